package feed_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LeakOptions()...) }

// world is one test's JetStream server, sandbox and quota.
type world struct {
	t   *testing.T
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
	emu *emulator.Server
	api *soap.Client
	lim *quota.Local
}

func newWorld(t *testing.T, ec emulator.Config, limits map[string]int) *world {
	t.Helper()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(ec)
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	override := map[string]int{"*": 100000}
	for k, v := range limits {
		override[k] = v
	}
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: override, Reserve: -1},
	})
	require.NoError(t, err)
	return &world{t: t, url: srv.ClientURL(), nc: nc, js: js, emu: emu, api: api, lim: lim}
}

// run starts a runner of feeds on a connection of its own; stop ends it
// and waits.
func (w *world) run(feeds []feed.Feed, tune func(*feed.Config)) (stop func()) {
	w.t.Helper()
	rnc, _ := natstest.Connect(w.t, w.url)
	cfg := feed.Config{
		Feeds: feeds, Conn: rnc, API: w.api, Limiter: w.lim,
		LeaseTTL: 2 * time.Second, Chunk: 16,
		Logger:  zerolog.New(zerolog.NewTestWriter(w.t)).Level(zerolog.WarnLevel),
		Metrics: prometheus.NewRegistry(),
	}
	if tune != nil {
		tune(&cfg)
	}
	r, err := feed.New(cfg)
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(w.t, err)
			case <-time.After(30 * time.Second):
				w.t.Fatal("the feeds did not stop")
			}
		})
	}
	w.t.Cleanup(stop)
	return stop
}

// events reads every event stored so far, in stream order.
func (w *world) events() []feed.Event {
	w.t.Helper()
	ctx := context.Background()
	st, err := w.js.Stream(ctx, feed.ChangeStream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	require.NoError(w.t, err)
	var out []feed.Event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		e, err := feed.DecodeEvent(m.Data)
		require.NoError(w.t, err)
		out = append(out, e)
	}
	return out
}

// waitEvents waits until n events are stored.
func (w *world) waitEvents(n int, d time.Duration) []feed.Event {
	w.t.Helper()
	var got []feed.Event
	require.Eventually(w.t, func() bool {
		got = w.events()
		return len(got) >= n
	}, d, 20*time.Millisecond, "%d events stored", n)
	return got
}

func userFeed(interval time.Duration) feed.Feed {
	return feed.Feed{Read: "ClientUserRead", Interval: feed.Duration(interval), Overlap: feed.Duration(2 * time.Second)}
}

// TestFeedMirrorsEditsAndDeletes: a backfill of every user, then edits and
// a delete made in the sandbox appear as one event per state, in order per
// object; reading the same objects again publishes nothing; the mirror
// ends equal to the sandbox's store.
func TestFeedMirrorsEditsAndDeletes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.Config{}, nil)
	users := w.emu.SeedClientUsers(40)
	w.run([]feed.Feed{userFeed(100 * time.Millisecond)}, nil)
	got := w.waitEvents(40, 30*time.Second)
	ids := map[string]bool{}
	for _, e := range got {
		require.Equal(t, "ClientUser", e.Object)
		require.Equal(t, "ClientUserRead", e.Read)
		require.False(t, e.Deleted)
		ids[e.ID] = true
	}
	require.Len(t, ids, 40, "one event per user: the backfill")

	// Edits, twice for one user, and a delete.
	for i, u := range users[:5] {
		o, _ := w.emu.Get("ClientUser", u)
		f := o.Fields
		f["Name"] = soap.String(fmt.Sprintf("Edited %d", i))
		_, err := w.emu.Put("ClientUser", u, f)
		require.NoError(t, err)
	}
	got = w.waitEvents(45, 30*time.Second)
	o, _ := w.emu.Get("ClientUser", users[0])
	f := o.Fields
	f["Name"] = soap.String("Edited again")
	_, err := w.emu.Put("ClientUser", users[0], f)
	require.NoError(t, err)
	got = w.waitEvents(46, 30*time.Second)

	// Polls go on reading the overlap: nothing new comes of it.
	require.Never(t, func() bool { return len(w.events()) > 46 }, time.Second, 50*time.Millisecond, "re-reading the same objects publishes nothing")

	// Order per object: users[0] went Name0 → Edited 0 → Edited again.
	var names []any
	for _, e := range got {
		if e.ID == users[0] {
			names = append(names, e.Data["Name"])
		}
	}
	require.Len(t, names, 3)
	require.Equal(t, []any{"Edited 0", "Edited again"}, names[1:])

	// The mirror is the sandbox's store, object by object.
	kv, err := w.js.KeyValue(context.Background(), feed.MirrorBucket)
	require.NoError(t, err)
	for _, u := range users {
		rec, err := feed.Mirror(context.Background(), kv, "ClientUser", u)
		require.NoError(t, err, u)
		obj, _ := w.emu.Get("ClientUser", u)
		require.Equal(t, obj.Fields["Name"].Text, rec.Data["Name"], u)
	}
}

// TestFeedResumesFromItsMarker: a feed stopped and started again reads
// from its stored marker: the backfill is not published again.
func TestFeedResumesFromItsMarker(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.Config{}, nil)
	users := w.emu.SeedClientUsers(30)
	stop := w.run([]feed.Feed{userFeed(50 * time.Millisecond)}, nil)
	w.waitEvents(30, 30*time.Second)
	stop()
	before := w.emu.Stats().Calls["ClientUserRead"]

	o, _ := w.emu.Get("ClientUser", users[7])
	o.Fields["Name"] = soap.String("While stopped")
	_, err := w.emu.Put("ClientUser", users[7], o.Fields)
	require.NoError(t, err)

	w.run([]feed.Feed{userFeed(50 * time.Millisecond)}, nil)
	got := w.waitEvents(31, 30*time.Second)
	require.Equal(t, users[7], got[30].ID)
	require.Equal(t, "While stopped", got[30].Data["Name"])
	require.Eventually(t, func() bool { return w.emu.Stats().Calls["ClientUserRead"] > before+3 }, 10*time.Second, 10*time.Millisecond)
	require.Len(t, w.events(), 31, "no event repeated after the restart")
}

// TestFeedOnePollerAcrossReplicas: three runners of the same feed (three
// replicas) poll it one at a time: the sandbox sees one poller's calls,
// and when the one polling stops, another takes over.
func TestFeedOnePollerAcrossReplicas(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.Config{}, nil)
	w.emu.SeedClientUsers(10)
	const interval = 200 * time.Millisecond
	stops := []func(){
		w.run([]feed.Feed{userFeed(interval)}, nil),
		w.run([]feed.Feed{userFeed(interval)}, nil),
		w.run([]feed.Feed{userFeed(interval)}, nil),
	}
	w.waitEvents(10, 30*time.Second)
	start, calls0 := time.Now(), w.emu.Stats().Calls["ClientUserRead"]
	require.Eventually(t, func() bool { return time.Since(start) > 2*time.Second }, 5*time.Second, 100*time.Millisecond)
	calls := w.emu.Stats().Calls["ClientUserRead"] - calls0
	elapsed := time.Since(start)
	require.LessOrEqual(t, calls, int(elapsed/interval)+2, "one poller at a time: %d calls in %s", calls, elapsed)

	// Stop them one by one: polls go on until the last is gone.
	for _, stop := range stops[:2] {
		stop()
	}
	n := w.emu.Stats().Calls["ClientUserRead"]
	require.Eventually(t, func() bool { return w.emu.Stats().Calls["ClientUserRead"] > n+2 }, 10*time.Second, 20*time.Millisecond, "the last replica took over")
	require.Len(t, w.events(), 10, "no event repeated by a takeover")
}

// TestFeedKeepsToItsShare: a feed polling as fast as it may takes at most
// its share of the read's limit; the rest stays for commands of the read.
func TestFeedKeepsToItsShare(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.Config{}, map[string]int{"ClientUserRead": 6})
	w.emu.SeedClientUsers(5)
	w.run([]feed.Feed{userFeed(10 * time.Millisecond)}, func(c *feed.Config) { c.Share = 0.5 })
	w.waitEvents(5, 30*time.Second)
	require.Eventually(t, func() bool { return w.emu.Stats().Calls["ClientUserRead"] >= 3 }, 10*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { return w.emu.Stats().Calls["ClientUserRead"] > 3 }, 500*time.Millisecond, 20*time.Millisecond,
		"the feed takes half of 6 calls")
	for range 3 {
		g, err := w.lim.Take(context.Background(), "ClientUserRead", time.Now())
		require.NoError(t, err)
		require.True(t, g.OK, "a command of the read still gets its call")
	}
}

// TestFeedRefusesWhatCannotFeed: a read without ChangedFrom, an unknown
// read and bad settings are refused at start, each named.
func TestFeedRefusesWhatCannotFeed(t *testing.T) {
	t.Parallel()
	err := feed.Config{Feeds: []feed.Feed{
		{Read: "RegionRead", Interval: feed.Duration(time.Second)},
		{Read: "NoSuchRead", Interval: feed.Duration(time.Second)},
		{Read: "ClientUserRead"},
		{Read: "SpecialistRead", Interval: feed.Duration(time.Second), Filters: map[string]any{"ChangedFrom": "2026-01-01T00:00:00"}},
		{Read: "ClientUserRead", Interval: feed.Duration(time.Second), Filters: map[string]any{"ClientID": "not a uuid"}},
	}}.Validate()
	require.Error(t, err)
	for _, want := range []string{"RegionRead", "ClientUserRead (confirmed)", "NoSuchRead", "an interval is required", "ChangedFrom is the feed's", "ClientID", "two feeds named ClientUserRead"} {
		require.ErrorContains(t, err, want)
	}
}

// TestFeedFollowsChurn: the sandbox creates, edits and deletes objects on
// its own; every state of every object appears as one event, in order per
// object, deletes with deleted set; the mirror ends equal to the store.
func TestFeedFollowsChurn(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.Config{Churn: 3000, Seed: 5}, nil)
	w.emu.SeedClientUsers(20)
	ctx, cancel := context.WithCancel(context.Background())
	churned := make(chan error, 1)
	go func() { churned <- w.emu.Run(ctx) }()
	w.run([]feed.Feed{userFeed(100 * time.Millisecond)}, nil)
	require.Eventually(t, func() bool {
		c := w.emu.Stats().Churn["ClientUser"]
		return c.Deleted >= 3 && c.Edited >= 10
	}, 30*time.Second, 20*time.Millisecond, "the sandbox changed client users")
	cancel()
	require.NoError(t, <-churned)

	// Wait for the feed to catch up with the last change: the mirror
	// equal to the store, object by object.
	kv, err := w.js.KeyValue(context.Background(), feed.MirrorBucket)
	require.NoError(t, err)
	objects := w.emu.Objects("ClientUser")
	require.Eventually(t, func() bool {
		for _, o := range objects {
			rec, err := feed.Mirror(context.Background(), kv, "ClientUser", o.ID)
			if err != nil || rec.Deleted != o.Deleted || rec.Data["Name"] != o.Row["Name"].Interface() {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the mirror is the store")

	got := w.events()
	perObject := map[string][]feed.Event{}
	deleted := 0
	for _, e := range got {
		perObject[e.ID] = append(perObject[e.ID], e)
		if e.Deleted {
			deleted++
		}
	}
	require.Positive(t, deleted, "deletes appear with deleted set")
	for id, es := range perObject {
		versions := map[string]bool{}
		for i, e := range es {
			require.False(t, versions[e.Version], "%s: one event per state", id)
			versions[e.Version] = true
			if i > 0 {
				require.False(t, es[i-1].Deleted && e.Deleted, "%s: deleted twice", id)
			}
		}
	}
	require.Len(t, perObject, len(objects), "every object of the store has events")
}

// TestFeedClockSkew: with the service's clock behind the worker's by less
// than the overlap nothing is lost; by more, nothing is lost either (the
// marker follows the earlier clock), and the skew is measured.
func TestFeedClockSkew(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{-time.Second, -5 * time.Minute, 3 * time.Minute} {
		t.Run(offset.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, emulator.Config{ClockOffset: offset}, nil)
			users := w.emu.SeedClientUsers(5)
			reg := prometheus.NewRegistry()
			w.run([]feed.Feed{userFeed(100 * time.Millisecond)}, func(c *feed.Config) { c.Metrics = reg })
			w.waitEvents(5, 30*time.Second)
			// Changes right after polls: each must be read by a later one.
			for i := range 5 {
				o, _ := w.emu.Get("ClientUser", users[i])
				o.Fields["Name"] = soap.String(fmt.Sprint("Skewed ", i))
				_, err := w.emu.Put("ClientUser", users[i], o.Fields)
				require.NoError(t, err)
				w.waitEvents(6+i, 30*time.Second)
			}
			mf, err := reg.Gather()
			require.NoError(t, err)
			var skew float64
			for _, f := range mf {
				if f.GetName() == "connect_feed_clock_skew_seconds" {
					skew = f.GetMetric()[0].GetGauge().GetValue()
				}
			}
			require.InDelta(t, -offset.Seconds(), skew, 2, "the skew measured from the answers' Date")
		})
	}
}
