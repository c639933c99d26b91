package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestConsumeChangesEndToEnd: the real feed backfills the sandbox's
// users into events a durable consumer hands to its handler, with the
// poll's trace; an edit sent through the worker comes back as a new
// event and a new mirror record; the consumer stops with its context.
func TestConsumeChangesEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, setupOpts{})
	users := b.emu.SeedClientUsers(3)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	c := b.client(t, "")
	runFeeds(t, b.srv.ClientURL(), b.emu, tp, feed.Feed{Read: "ClientUserRead", Interval: feed.Duration(100 * time.Millisecond), Overlap: feed.Duration(2 * time.Second)})

	events := make(chan connect.ChangeEvent, 16)
	var untraced atomic.Bool
	stop := consuming(t, func(ctx context.Context) error {
		return c.ConsumeChanges(ctx, "profile-sync", []string{"ClientUser"}, func(ctx context.Context, e connect.ChangeEvent) error {
			events <- e
			return nil
		}, connect.WithHandlerContext(func(ctx context.Context, h nats.Header) context.Context {
			ctx = propagation.TraceContext{}.Extract(ctx, connect.TraceCarrier(h))
			if !oteltrace.SpanContextFromContext(ctx).IsValid() {
				untraced.Store(true)
			}
			return ctx
		}))
	})
	seen := map[string]connect.ChangeEvent{}
	for len(seen) < len(users) {
		e := wait(t, ctx, events, "the backfill's events")
		seen[e.ID] = e
	}
	for _, id := range users {
		e := seen[id]
		require.Equal(t, "ClientUser", e.Object)
		require.Equal(t, "ClientUserRead", e.Read)
		require.Equal(t, "connect.change.ClientUser", e.Subject)
		require.EqualValues(t, 1, e.Delivered)
		require.NotEmpty(t, e.Version)
		require.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`, e.Traceparent, "the event carries the poll's trace")
		var u struct{ ClientUserID, Name string }
		require.NoError(t, e.Decode(&u))
		require.Equal(t, id, u.ClientUserID)
	}
	require.False(t, untraced.Load(), "each handler's context continues the event's trace")

	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	records, err := c.Mirror().Watch(watch, "ClientUser")
	require.NoError(t, err)
	updates := make(chan connect.Record, 16)
	go func() {
		defer close(updates)
		for r, err := range records {
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			updates <- r
		}
	}()

	_, err = c.Do(ctx, ops.ClientUserEdit{ClientUserID: users[0], Name: "Renamed", Password: "secret1", Phone: "+7 900 000-00-01", EMail: "renamed@example.com"})
	require.NoError(t, err)
	for {
		e := wait(t, ctx, events, "the edit's event")
		if e.ID == users[0] && e.Data["Name"] == "Renamed" {
			require.NotEqual(t, seen[users[0]].Version, e.Version)
			break
		}
	}
	for {
		r, open := <-updates
		require.True(t, open, "the watch ended before the edit's record")
		if r.ID == users[0] && r.Data["Name"] == "Renamed" {
			break
		}
	}
	got, err := c.Mirror().Get(ctx, "ClientUser", users[0])
	require.NoError(t, err)
	require.Equal(t, "Renamed", got.Data["Name"])
	n := 0
	for r, err := range c.Mirror().List(ctx, "ClientUser") {
		require.NoError(t, err)
		require.Contains(t, users, r.ID)
		n++
	}
	require.Equal(t, len(users), n)
	stop()

	info, err := b.js.Consumer(ctx, contract.ChangeStream, "profile-sync")
	require.NoError(t, err)
	require.Zero(t, info.CachedInfo().NumAckPending, "every event handled was acknowledged")
	require.Equal(t, "connect.change.ClientUser", info.CachedInfo().Config.FilterSubject)
}

// changeStream makes the change stream as the feeds make it, on a bare
// server, for tests that publish events of their own.
func changeStream(t *testing.T) (*connect.Client, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: contract.ChangeStream, Subjects: []string{contract.ChangePrefix + ">"}})
	require.NoError(t, err)
	nc, _ := natstest.Connect(t, srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, js
}

func publishEvent(t testing.TB, js jetstream.JetStream, subject string, payload []byte) uint64 {
	t.Helper()
	ack, err := js.Publish(context.Background(), subject, payload)
	require.NoError(t, err)
	return ack.Sequence
}

func eventJSON(t testing.TB, object, id string) []byte {
	t.Helper()
	b, err := json.Marshal(contract.ChangeEvent{Object: object, ID: id, Data: map[string]any{"N": id}, Version: "v-" + id})
	require.NoError(t, err)
	return b
}

// TestConsumeSettlesEachMessage: a handler's error delivers the message
// again after the backoff; a payload that cannot be decoded, or names
// another object than its subject, is terminated and reported, never
// handed to the handler.
func TestConsumeSettlesEachMessage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, js := changeStream(t)
	hostile := map[uint64]string{
		publishEvent(t, js, "connect.change.ClientUser", []byte{0xc1}):                                                                                            "not msgpack",
		publishEvent(t, js, "connect.change.ClientUser", eventJSON(t, "Specialist", "forged")):                                                                    "another object",
		publishEvent(t, js, "connect.change.ClientUser", []byte(`{"object":"ClientUser","id":"x","data":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`)): "too deep",
		publishEvent(t, js, "connect.change.ClientUser", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}):                                                                    "a map of 2^32-1 entries",
	}
	good := publishEvent(t, js, "connect.change.ClientUser", eventJSON(t, "ClientUser", "u-1"))

	type delivery struct {
		at time.Time
		n  uint64
	}
	deliveries := make(chan delivery, 4)
	problems := make(chan *connect.DeliveryError, 8)
	const backoff = 200 * time.Millisecond
	stop := consuming(t, func(ctx context.Context) error {
		return c.ConsumeChanges(ctx, "settle", nil, func(ctx context.Context, e connect.ChangeEvent) error {
			require.Equal(t, "u-1", e.ID, "only the good event reaches the handler")
			deliveries <- delivery{time.Now(), e.Delivered}
			if e.Delivered == 1 {
				return errors.New("the database is down")
			}
			return nil
		}, connect.WithRetryBackoff(backoff, time.Second), connect.WithDeliveryErrors(func(err error) {
			var de *connect.DeliveryError
			require.ErrorAs(t, err, &de)
			problems <- de
		}))
	})
	first := wait(t, ctx, deliveries, "the first delivery")
	second := wait(t, ctx, deliveries, "the delivery after the error")
	require.EqualValues(t, 2, second.n)
	require.GreaterOrEqual(t, second.at.Sub(first.at), backoff, "delivered again after the backoff")
	for range hostile {
		p := wait(t, ctx, problems, "a terminated message")
		require.True(t, p.Terminated, "%v", p)
		require.Contains(t, hostile, p.Sequence, "%v", p)
		delete(hostile, p.Sequence)
	}
	stop()
	cons, err := js.Consumer(ctx, contract.ChangeStream, "settle")
	require.NoError(t, err)
	info := cons.CachedInfo()
	require.Zero(t, info.NumAckPending)
	require.Equal(t, good, info.AckFloor.Stream, "every message is settled")
}

// TestConsumeBoundsInFlight: no more than WithMaxInFlight handlers run at
// once, and that many do.
func TestConsumeBoundsInFlight(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, js := changeStream(t)
	const n, limit = 40, 3
	for i := range n {
		publishEvent(t, js, "connect.change.ClientUser", eventJSON(t, "ClientUser", string(rune('a'+i%26))+strings.Repeat("x", i/26)))
	}
	var mu sync.Mutex // protects running, most
	running, most := 0, 0
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	done := make(chan struct{}, n)
	stop := consuming(t, func(ctx context.Context) error {
		return c.ConsumeChanges(ctx, "bounded", []string{"ClientUser", "Specialist"}, func(ctx context.Context, e connect.ChangeEvent) error {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			entered <- struct{}{}
			<-release
			mu.Lock()
			running--
			mu.Unlock()
			done <- struct{}{}
			return nil
		}, connect.WithMaxInFlight(limit))
	})
	for range limit {
		wait(t, ctx, entered, "a handler")
	}
	cons, err := js.Consumer(ctx, contract.ChangeStream, "bounded")
	require.NoError(t, err)
	require.Equal(t, limit, cons.CachedInfo().Config.MaxAckPending)
	require.Equal(t, []string{"connect.change.ClientUser", "connect.change.Specialist"}, cons.CachedInfo().Config.FilterSubjects)
	close(release)
	for range n {
		wait(t, ctx, done, "every handler")
	}
	stop()
	require.Equal(t, limit, most, "at most and at least %d handlers at once", limit)
}

// TestConsumeRefusesBadArguments: names and tokens that would make
// another subject or consumer are refused before anything is made.
func TestConsumeRefusesBadArguments(t *testing.T) {
	t.Parallel()
	c, _ := changeStream(t)
	h := func(context.Context, connect.ChangeEvent) error { return nil }
	cases := []struct {
		name, consumer string
		objects        []string
		opt            connect.ConsumeOption
		want           string
	}{
		{"empty name", "", nil, nil, "consumer name"},
		{"a dot in the name", "a.b", nil, nil, "consumer name"},
		{"a wildcard object", "ok", []string{"*"}, nil, "not a subject token"},
		{"an object of two tokens", "ok", []string{"Client.User"}, nil, "not a subject token"},
		{"zero in flight", "ok", nil, connect.WithMaxInFlight(0), "max in flight"},
		{"backoff upside down", "ok", nil, connect.WithRetryBackoff(time.Second, time.Millisecond), "retry backoff"},
		{"a stream with a dot", "ok", nil, connect.WithStream("A.B", "x."), "stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []connect.ConsumeOption
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			err := c.ConsumeChanges(context.Background(), tc.consumer, tc.objects, h, opts...)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestConsumeHistory: the real export walks the sandbox's call history
// into rows a durable consumer hands to its handler, each with its row
// id and export; every call of the days read arrives.
func TestConsumeHistory(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msk := time.FixedZone("MSK", 3*60*60)
	emu, err := emulator.New(emulator.Config{Seed: 1, SeedHistory: 5, Location: msk, Limits: map[string]int{"*": 1 << 30}})
	require.NoError(t, err)
	srv := natstest.Server(t)
	const op = "GetHistoryOfServiceCalls"
	y, m, d := time.Now().In(msk).Date()
	since := time.Date(y, m, d-3, 0, 0, 0, 0, msk)
	want, err := emu.History(op, since, since.Add(48*time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, want)
	runExports(t, srv.ClientURL(), emu, msk, export.Export{Name: "calls", Op: op, Since: since, Interval: export.Duration(time.Hour), Chunk: export.Duration(24 * time.Hour)})

	nc, _ := natstest.Connect(t, srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	rows := make(chan connect.HistoryRow, 64)
	consuming(t, func(ctx context.Context) error {
		return c.ConsumeHistory(ctx, "crm", []string{op}, func(ctx context.Context, r connect.HistoryRow) error {
			rows <- r
			return nil
		})
	})
	missing := map[string]bool{}
	for _, r := range want {
		missing[r.Row["ServiceCallID"].Text] = true
	}
	for len(missing) > 0 {
		r := wait(t, ctx, rows, "the rows of the days read")
		require.Equal(t, op, r.Op)
		require.Equal(t, "calls", r.Export)
		require.Equal(t, r.Row["ServiceCallID"], r.RowID, "a call's row id is its id column")
		require.True(t, r.From.Before(r.To))
		_, isFile := r.File()
		require.False(t, isFile)
		delete(missing, r.RowID)
	}
}

// TestConsumeWaitsForTheStream: a service started before the worker
// made the stream waits for it, then consumes; WithDeliverNew skips what
// was stored before the consumer was made.
func TestConsumeWaitsForTheStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	nc, _ := natstest.Connect(t, srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	got := make(chan string, 4)
	consuming(t, func(ctx context.Context) error {
		return c.ConsumeChanges(ctx, "early", nil, func(ctx context.Context, e connect.ChangeEvent) error {
			got <- e.ID
			return nil
		})
	})
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.ChangeStream, Subjects: []string{contract.ChangePrefix + ">"}})
	require.NoError(t, err)
	publishEvent(t, js, "connect.change.ClientUser", eventJSON(t, "ClientUser", "old"))
	require.Equal(t, "old", wait(t, ctx, got, "the event stored once the stream came"))

	fresh := make(chan string, 4)
	consuming(t, func(ctx context.Context) error {
		return c.ConsumeChanges(ctx, "fresh", nil, func(ctx context.Context, e connect.ChangeEvent) error {
			fresh <- e.ID
			return nil
		}, connect.WithDeliverNew())
	})
	// The consumer exists once it lists among the stream's.
	for {
		if _, err := js.Consumer(ctx, contract.ChangeStream, "fresh"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the consumer was never made")
		case <-time.After(10 * time.Millisecond): // polling the server: nothing to wait on
		}
	}
	publishEvent(t, js, "connect.change.ClientUser", eventJSON(t, "ClientUser", "new"))
	require.Equal(t, "new", wait(t, ctx, fresh, "the event stored after the consumer was made"))
}
