package demo

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// demoEvents are a small run's events: the backfill of two users and a
// specialist, the demo's edit of user 1, a later edit of a user of the
// sample (not the cabinet's), and a deletion made in the cabinet.
func demoEvents() []feed.Event {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(2 * time.Second)
	user := func(n int, name string, seen time.Time) feed.Event {
		return feed.Event{Object: "ClientUser", ID: UserID(n), Read: "ClientUserRead", Seen: seen, Version: name, Data: map[string]any{"Name": name}}
	}
	spec := feed.Event{Object: "Specialist", ID: "s-1", Read: "SpecialistRead", Seen: t0, Version: "v1", Data: map[string]any{"Name": "Елена"}}
	gone := spec
	gone.Deleted, gone.Seen, gone.Version = true, t1, "v2"
	return []feed.Event{user(1, "User 1", t0), user(2, "User 2", t0), spec, user(1, EditedName, t1), user(2, "Борис 1", t1), gone}
}

func TestSummarizeChanges(t *testing.T) {
	t.Parallel()
	events := demoEvents()
	require.True(t, SawEdit(events))
	require.False(t, SawEdit(events[:3]), "the backfill is not the edit")
	require.True(t, Shown(events))
	require.False(t, Shown(events[:5]), "no change of the cabinet yet: the later user edit is the sample's")

	c := SummarizeChanges(events, 2)
	require.Equal(t, 6, c.Events)
	require.Equal(t, 3, c.Objects)
	require.Equal(t, 3, c.Later)
	require.Equal(t, 1, c.Deleted)
	require.Len(t, c.Edited, 2)
	require.NotNil(t, c.Cabinet)
	require.Equal(t, "s-1", c.Cabinet.ID)
	require.True(t, c.Cabinet.Deleted)

	var out strings.Builder
	require.NoError(t, c.Write(&out))
	require.Contains(t, out.String(), "6 events of 3 objects")
	require.Contains(t, out.String(), `Name "Анна 0"  <- the edit the demo made`)
	require.Contains(t, out.String(), `Specialist s-1 "Елена" deleted`)
}

// TestWaitChanges reads events from a real CONNECT_CHANGES stream: it
// returns once the condition holds, and with what it read and ctx's error
// when it never does.
func TestWaitChanges(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: feed.ChangeStream, Subjects: []string{feed.ChangePrefix + ">"}})
	require.NoError(t, err)
	events := demoEvents()
	publish := func(es []feed.Event) {
		for _, e := range es {
			b, err := json.Marshal(e)
			require.NoError(t, err)
			_, err = js.Publish(ctx, e.Subject(feed.ChangePrefix), b)
			require.NoError(t, err)
		}
	}
	publish(events[:3])

	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	got, err := WaitChanges(short, js, Shown)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, got, 3, "what it read before giving up")

	type answer struct {
		events []feed.Event
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		got, err := WaitChanges(ctx, js, Shown)
		done <- answer{got, err}
	}()
	publish(events[3:])
	select {
	case a := <-done:
		require.NoError(t, a.err)
		got := a.events
		require.Len(t, got, len(events))
		require.Equal(t, events[3].Data, got[3].Data)
	case <-ctx.Done():
		t.Fatal("WaitChanges did not return once the events were there")
	}
}
