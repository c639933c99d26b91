package connect_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// sandboxAPI is a SOAP client of emu of its own, with a quota of no
// limits, for the feeds and exports of a test.
func sandboxAPI(t *testing.T, emu *emulator.Server, loc *time.Location) (*soap.Client, *quota.Local) {
	t.Helper()
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1, Location: loc},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 1 << 30}, Reserve: -1},
	})
	require.NoError(t, err)
	return api, lim
}

// runFeeds runs the real feeds of the bridge against emu until the test
// ends.
func runFeeds(t *testing.T, url string, emu *emulator.Server, tp trace.TracerProvider, feeds ...feed.Feed) {
	t.Helper()
	api, lim := sandboxAPI(t, emu, nil)
	nc, _ := natstest.Connect(t, url)
	r, err := feed.New(feed.Config{
		Feeds: feeds, Conn: nc, API: api, Limiter: lim, LeaseTTL: 2 * time.Second, Chunk: 16,
		Metrics: prometheus.NewRegistry(), Tracer: tp,
	})
	require.NoError(t, err)
	runUntilCleanup(t, r.Run)
}

// runExports runs the real exports of the bridge against emu, in the
// account's zone loc, until the test ends.
func runExports(t *testing.T, url string, emu *emulator.Server, loc *time.Location, exports ...export.Export) {
	t.Helper()
	api, lim := sandboxAPI(t, emu, loc)
	nc, _ := natstest.Connect(t, url)
	r, err := export.New(export.Config{
		Exports: exports, Conn: nc, API: api, Limiter: lim, Location: loc, LeaseTTL: 2 * time.Second, Batch: 8,
		Metrics: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	runUntilCleanup(t, r.Run)
}

// runUntilCleanup runs run in a goroutine and, when the test ends,
// cancels it and wants it to return nil.
func runUntilCleanup(t *testing.T, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("did not stop within 30s")
		}
	})
}

// consuming runs a consumer (ConsumeChanges, ConsumeHistory) until the
// test ends or stop is called, and wants it to return nil.
func consuming(t *testing.T, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the consumer did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}
