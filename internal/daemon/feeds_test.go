package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/daemon"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// TestRunRefusesFeedsOfReadsWithoutChangedFrom: a feed on a read that
// takes no ChangedFrom, or of no operation at all, is refused before
// anything is contacted, and the error names the reads that can feed.
func TestRunRefusesFeedsOfReadsWithoutChangedFrom(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name  string
		feeds daemon.FeedsConfig
		want  []string
	}{
		{"not change-tracked", daemon.FeedsConfig{Feeds: []feed.Feed{{Read: "RegionRead", Interval: feed.Duration(time.Second)}}},
			[]string{"RegionRead is a Read", "does not take ChangedFrom", "ClientUserRead (confirmed)"}},
		{"no such read", daemon.FeedsConfig{Feeds: []feed.Feed{{Read: "ClientUserReed", Interval: feed.Duration(time.Second)}}},
			[]string{`unknown operation "ClientUserReed"`, "ClientUserRead (confirmed)"}},
		{"no interval", daemon.FeedsConfig{Feeds: []feed.Feed{{Read: "ClientUserRead"}}},
			[]string{"an interval is required"}},
		{"share over 1", daemon.FeedsConfig{Feeds: []feed.Feed{{Read: "ClientUserRead", Interval: feed.Duration(time.Second)}}, Share: 1.5},
			[]string{"feed share 1.5"}},
		{"negative tombstone TTL", daemon.FeedsConfig{Feeds: []feed.Feed{{Read: "ClientUserRead", Interval: feed.Duration(time.Second)}}, TombstoneTTL: -time.Second},
			[]string{"negative tombstone TTL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// An HTTP address in use and no NATS: the feeds are refused
			// first, so neither is ever tried.
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = busy.Close() })
			err = daemon.Run(ctx, daemon.Config{ConnectURL: "http://127.0.0.1:1", HTTPListen: busy.Addr().String(), Feeds: c.feeds})
			require.Error(t, err)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "HTTP listen")
		})
	}
}

// TestRunRunsTheFeedsBesideTheWorker runs the whole process with a feed
// of ClientUserRead against a sandbox whose account is in UTC, the quota's
// time zone set to UTC too: the backfill publishes one event per user, an
// edit made afterwards is seen (ChangedFrom written in the quota's zone;
// in Moscow time, 3 hours ahead, it would be missed), /readyz is ready
// only once the feeds are set up, the feeds' series are on /metrics
// beside the worker's, and the feeds' calls were counted in the worker's
// ledger.
func TestRunRunsTheFeedsBesideTheWorker(t *testing.T) {
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{Location: time.UTC})
	require.NoError(t, err)
	users := emu.SeedClientUsers(25)
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			NATS:       natsconn.ConnFlags{Server: srv.ClientURL()},
			ConnectURL: api.URL + emulator.Path, ConnectUser: "admin", ConnectPassword: "admin",
			HTTPListen: addr,
			Worker:     worker.Config{Operations: []string{"ClientUserEdit"}, FetchWait: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second},
			Quota:      daemon.QuotaConfig{Windows: quota.Windows{Length: time.Hour, Guard: -1, Location: time.UTC}, Reserve: -1, Limits: map[string]int{"*": 100000}},
			Feeds: daemon.FeedsConfig{
				Feeds:    []feed.Feed{{Read: "ClientUserRead", Interval: feed.Duration(100 * time.Millisecond), Overlap: feed.Duration(2 * time.Second)}},
				LeaseTTL: 2 * time.Second, Chunk: 8,
			},
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
	}()
	waitReady(t, addr, done)
	// Ready means the feeds' stream and buckets exist.
	_, err = js.Stream(ctx, feed.ChangeStream)
	require.NoError(t, err, "ready before the change stream was set up")

	events := func() map[string][]feed.Event {
		t.Helper()
		out := map[string][]feed.Event{}
		st, err := js.Stream(ctx, feed.ChangeStream)
		require.NoError(t, err)
		info, err := st.Info(ctx)
		require.NoError(t, err)
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			require.NoError(t, err)
			e, err := feed.DecodeEvent(m.Data)
			require.NoError(t, err)
			out[e.ID] = append(out[e.ID], e)
		}
		return out
	}
	require.Eventually(t, func() bool { return len(events()) == len(users) }, 30*time.Second, 20*time.Millisecond, "the backfill")

	// A feed's marker is stored once its first poll is complete; the edit
	// comes after it, so only ChangedFrom in the right zone finds it.
	markers, err := js.KeyValue(ctx, feed.MarkerBucket)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := markers.Get(ctx, "ClientUserRead"); return err == nil }, 30*time.Second, 20*time.Millisecond)
	o, _ := emu.Get("ClientUser", users[3])
	o.Fields["Name"] = soap.String("Edited after the backfill")
	_, err = emu.Put("ClientUser", users[3], o.Fields)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(events()[users[3]]) == 2 }, 30*time.Second, 20*time.Millisecond,
		"the edit was seen: ChangedFrom is written in the quota's time zone")
	require.Equal(t, "Edited after the backfill", events()[users[3]][1].Data["Name"])

	// The counter moves just after the event is stored.
	var page string
	require.Eventually(t, func() bool {
		page = httpGet(t, "http://"+addr+"/metrics")
		return strings.Contains(page, `connect_feed_events_total{feed="ClientUserRead"} 26`)
	}, 10*time.Second, 20*time.Millisecond)
	for _, series := range []string{
		`connect_feed_polls_total{feed="ClientUserRead",outcome="success"}`,
		`connect_feed_lag_seconds{feed="ClientUserRead"}`,
		`connect_feed_calls_total{feed="ClientUserRead"}`,
		`connect_feed_rows_total{feed="ClientUserRead"}`,
		`connect_worker_queue_depth{op="ClientUserEdit"}`,
		`connect_feed_mirror_objects 25`,
		`go_goroutines`,
	} {
		require.Contains(t, page, series)
	}
	// The feeds' calls come from the same ledger as the worker's: the
	// shared bucket counts them under the feeds' share.
	q, err := js.KeyValue(ctx, quota.DefaultBucket)
	require.NoError(t, err)
	keys, err := q.ListKeys(ctx)
	require.NoError(t, err)
	var shared []string
	for k := range keys.Keys() {
		if strings.Contains(k, "ClientUserRead") {
			shared = append(shared, k)
		}
	}
	require.NotEmpty(t, shared, "the feeds' calls are in the shared ledger")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestReadyzWaitsForTheFeeds: a process whose feeds cannot set their
// stream up (the name is taken by a stream of other subjects that
// overlap) is never ready, and /readyz says why.
func TestReadyzWaitsForTheFeeds(t *testing.T) {
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	// A stream that already holds the change subjects: the feeds' own
	// cannot be created beside it.
	_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "SQUATTER", Subjects: []string{feed.ChangePrefix + ">"}})
	require.NoError(t, err)
	emu, err := emulator.New(emulator.Config{})
	require.NoError(t, err)
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			NATS:       natsconn.ConnFlags{Server: srv.ClientURL()},
			ConnectURL: api.URL + emulator.Path, ConnectUser: "admin", ConnectPassword: "admin",
			HTTPListen: addr,
			Worker:     worker.Config{Operations: []string{"ClientUserEdit"}, FetchWait: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second},
			Quota:      daemon.QuotaConfig{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Reserve: -1},
			Feeds:      daemon.FeedsConfig{Feeds: []feed.Feed{{Read: "ClientUserRead", Interval: feed.Duration(time.Second)}}},
			Logger:     zerolog.Nop(),
		})
	}()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	var body string
	// The worker alone becomes ready within a second or so; the answer
	// must stay "not ready" because of the feeds.
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "change stream")
	}, 30*time.Second, 20*time.Millisecond, "last answer: %s", body)
	require.Contains(t, body, "feed: the change stream and the mirror are not set up yet")
	cancel()
	select {
	case err := <-done:
		// Stopped while the feeds still tried to set up: that is the
		// error, as the worker's would be.
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}
