package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/contracttest"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestKilledFeedLosesAndRepeatsNothing kills a real worker process
// (SIGKILL) in the middle of a feed's backfill — some events of the
// answer in CONNECT_CHANGES, the marker not stored — and starts another:
// it reads the backfill again, from no marker, and in the end every
// object has exactly one event in the stream, the mirror is the sandbox's
// store, and an edit made afterwards adds exactly one event.
//
// The stream's duplicate window (10 minutes, not configurable from the
// worker) would drop a publish repeated with the same Nats-Msg-Id, so the
// stream alone cannot tell "not published again" from "published again
// and dropped". A plain NATS subscriber on connect.change.> sees every
// publish the server receives, dropped duplicates included: it shows that
// the second process, which reads every object again, publishes none of
// those the mirror holds — what keeps repeats out after the window — and
// that what it publishes again is at most the one chunk whose events were
// stored but not yet mirrored when the first died.
func TestKilledFeedLosesAndRepeatsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes")
	}
	const (
		objects = 20_000
		chunk   = 16
	)
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(objects)

	// Every publish on the change subjects, as the server routes it.
	wire := &publishes{n: map[string]int{}}
	sub, err := nc.Subscribe(feed.ChangePrefix+">", func(m *nats.Msg) { wire.add(m.Header.Get(feed.HeaderObject)) })
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	require.NoError(t, nc.Flush())

	// A short overlap, so that the polls after the backfill read the
	// last seconds rather than every seeded user again.
	conf := filepath.Join(t.TempDir(), "worker.json")
	require.NoError(t, os.WriteFile(conf, []byte(`{"feeds": [{"read": "ClientUserRead", "interval": "200ms", "overlap": "2s"}]}`), 0o600))
	args := []string{
		"--nats-url", srv.ClientURL(),
		"--connect-url", hs.URL + emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", "off", "--log-level", "warn", "--max-wait", "20ms",
		"--operations", "ClientUserEdit", "--local-quota", "--limit", "*=100000", "--quota-guard", "-1s",
		"--config", conf, "--feed-chunk", fmt.Sprint(chunk), "--feed-lease-ttl", "2s",
	}
	ctx := context.Background()
	stored := func() uint64 {
		st, err := js.Stream(ctx, feed.ChangeStream)
		if err != nil {
			return 0
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	markerStored := func() bool {
		kv, err := js.KeyValue(ctx, feed.MarkerBucket)
		if err != nil {
			return false
		}
		_, err = kv.Get(ctx, "ClientUserRead")
		return err == nil
	}

	mirrorStored := func() uint64 {
		info, err := js.Stream(ctx, "KV_"+feed.MirrorBucket)
		if err != nil {
			return 0
		}
		i, err := info.Info(ctx)
		if err != nil {
			return 0
		}
		return i.State.Msgs
	}

	// Kill once a fifth of the events are in, preferably while a chunk's
	// events are stored and their mirror writes are not (the mirror read
	// after the stream and still behind it: events only run ahead), so
	// that the second process publishes that chunk again; past half the
	// events, kill anyway.
	first := startWorker(t, args...)
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(time.Millisecond)
	for {
		n := stored()
		require.False(t, markerStored() || n >= objects, "the backfill ended before the kill (%d events): seed more users", n)
		require.True(t, time.Now().Before(deadline), "%d events after 2 minutes", n)
		if n >= objects/5 && (mirrorStored() < n || n >= objects/2) {
			break
		}
		<-tick.C
	}
	tick.Stop()
	require.NoError(t, first.Cmd.Process.Kill())
	_ = first.Cmd.Wait()
	atKill := stored()
	require.Less(t, atKill, uint64(objects), "killed mid-answer")
	require.False(t, markerStored(), "killed before the marker was stored")

	// What the mirror holds now, the second process finds there: none of
	// these objects may be published again.
	mirror, err := js.KeyValue(ctx, feed.MirrorBucket)
	require.NoError(t, err)
	mirroredAtKill := mirrorRecords(t, mirror)
	t.Logf("killed the worker with %d of %d events stored, %d objects mirrored", atKill, objects, len(mirroredAtKill))
	require.NotEmpty(t, mirroredAtKill)

	startWorker(t, args...)
	waitUntil(t, 3*time.Minute, "the second backfill's marker and every object's event", func() bool {
		return markerStored() && stored() >= objects
	})

	events := changeEvents(t, js)
	require.Len(t, events, objects, "one object per seeded user")
	for _, u := range users {
		require.Len(t, events[u], 1, "%s: exactly one event in the stream", u)
	}
	st, rev := feedState(t, js)
	require.GreaterOrEqual(t, st.Rows, int64(objects), "the second process read every object again")

	// The mirror is the sandbox's store, and each record the version of
	// the object's event.
	store := emu.Objects("ClientUser")
	requireMirrorIsStore(t, mirrorRecords(t, mirror), store, events)

	// Publishes: every object at least once; none the mirror held again;
	// at most one chunk again, each at most twice.
	counts := wire.get()
	var again []string
	for _, u := range users {
		n := counts[u]
		require.Positive(t, n, "%s: never published", u)
		require.LessOrEqual(t, n, 2, "%s: published %d times", u, n)
		if n == 2 {
			again = append(again, u)
		}
		if _, ok := mirroredAtKill[feed.MirrorKey("ClientUser", u)]; ok {
			require.Equal(t, 1, n, "%s: in the mirror at the kill, yet published again", u)
		}
	}
	require.LessOrEqual(t, len(again), chunk, "published again: more than the chunk in flight at the kill")
	t.Logf("published again after the restart (dropped by the duplicate window): %d objects", len(again))

	// An edit through the worker after the restart: exactly one event.
	inbox := nats.NewInbox()
	res := contracttest.Collect(t, nc, inbox)
	edited := users[objects/2]
	cmd, err := json.Marshal(map[string]any{"id": "edit-after-restart", "fields": map[string]any{
		"ClientUserID": edited, "Name": "After the restart", "Password": "p", "Phone": "1", "EMail": "e@x.ru",
	}})
	require.NoError(t, err)
	m := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
	m.Data = cmd
	m.Header.Set(contract.HeaderMsgID, "edit-after-restart")
	m.Header.Set(contract.HeaderReplyTo, inbox)
	_, err = js.PublishMsg(ctx, m)
	require.NoError(t, err)
	got := res.Wait(t, 1, time.Minute)
	require.Equal(t, contract.CodeSuccess, got["edit-after-restart"][0].Code, "%+v", got)
	waitUntil(t, time.Minute, "the edit's event", func() bool { return stored() > objects })
	// Polls go on re-reading the edit (the overlap): two complete polls
	// after the one that published it must add nothing.
	st, _ = feedState(t, js)
	polls := st.Polls
	waitUntil(t, time.Minute, "three more polls", func() bool {
		st, _ := feedState(t, js)
		return st.Polls >= polls+3
	})
	events = changeEvents(t, js)
	require.Len(t, events[edited], 2, "the backfill's event and the edit's")
	require.Equal(t, "After the restart", events[edited][1].Data["Name"])
	total := 0
	for _, es := range events {
		total += len(es)
	}
	require.Equal(t, objects+1, total, "nothing else published")
	require.Equal(t, counts[edited]+1, wire.get()[edited], "the edit published once")
	requireMirrorIsStore(t, mirrorRecords(t, mirror), emu.Objects("ClientUser"), events)
	_, rev2 := feedState(t, js)
	require.Greater(t, rev2, rev, "the marker moved on")
}

// publishes counts the publishes seen per object id.
type publishes struct {
	mu sync.Mutex // protects n
	n  map[string]int
}

func (p *publishes) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n[id]++
}

func (p *publishes) get() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.n))
	for k, v := range p.n {
		out[k] = v
	}
	return out
}

// changeEvents reads every event in CONNECT_CHANGES, by Connect-Object-Id
// in stream order; each event's payload must name the same object.
func changeEvents(t *testing.T, js jetstream.JetStream) map[string][]feed.Event {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, feed.ChangeStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	c, err := js.OrderedConsumer(ctx, feed.ChangeStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	out := map[string][]feed.Event{}
	deadline := time.Now().Add(time.Minute)
	for read := uint64(0); read < info.State.Msgs; {
		require.True(t, time.Now().Before(deadline), "read %d of %d events", read, info.State.Msgs)
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			e, err := feed.DecodeEvent(m.Data())
			require.NoError(t, err)
			id := m.Headers().Get(feed.HeaderObject)
			require.Equal(t, e.ID, id, "Connect-Object-Id is the event's object")
			require.Equal(t, e.MsgID(), m.Headers().Get("Nats-Msg-Id"))
			out[id] = append(out[id], e)
			read++
		}
	}
	return out
}

// mirrorRecords reads every record of the mirror, by key.
func mirrorRecords(t *testing.T, kv jetstream.KeyValue) map[string]feed.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	require.NoError(t, err)
	defer func() { _ = w.Stop() }()
	out := map[string]feed.Record{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // every record present at the start is read
				return out
			}
			var r feed.Record
			require.NoError(t, json.Unmarshal(e.Value(), &r), e.Key())
			out[e.Key()] = r
		case <-ctx.Done():
			t.Fatalf("reading the mirror: %v (%d records)", ctx.Err(), len(out))
		}
	}
}

// requireMirrorIsStore checks the mirror against the sandbox's store:
// one record per object, holding its row (as the feed's JSON has it), its
// deleted mark, and the version of its last event.
func requireMirrorIsStore(t *testing.T, mirror map[string]feed.Record, store []emulator.Object, events map[string][]feed.Event) {
	t.Helper()
	require.Len(t, mirror, len(store))
	for _, o := range store {
		rec, ok := mirror[feed.MirrorKey("ClientUser", o.ID)]
		require.True(t, ok, "%s: not in the mirror", o.ID)
		row := make(map[string]any, len(o.Row))
		for k, v := range o.Row {
			row[k] = v.Interface()
		}
		require.Equal(t, asJSON(t, row), asJSON(t, rec.Data), "%s: the mirror's record is the store's row", o.ID)
		require.Equal(t, o.Deleted, rec.Deleted, o.ID)
		es := events[o.ID]
		require.NotEmpty(t, es, o.ID)
		require.Equal(t, es[len(es)-1].Version, rec.Version, "%s: the record is the last event's state", o.ID)
	}
}

// asJSON is v as JSON decodes it: numbers float64, times strings.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// feedState reads ClientUserRead's stored state and its revision.
func feedState(t *testing.T, js jetstream.JetStream) (feed.State, uint64) {
	t.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, feed.MarkerBucket)
	require.NoError(t, err)
	e, err := kv.Get(ctx, "ClientUserRead")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return feed.State{}, 0
	}
	require.NoError(t, err)
	var st feed.State
	require.NoError(t, json.Unmarshal(e.Value(), &st))
	return st, e.Revision()
}
