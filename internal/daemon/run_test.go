package daemon_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/daemon"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// TestRunClaimsTheHTTPAddressFirst gives Run an HTTP address in use: it
// fails before it starts anything (no embedded server, no connection, no
// stream or bucket, no worker; TestMain checks that no goroutine is left).
func TestRunClaimsTheHTTPAddressFirst(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = busy.Close() })
	addr := busy.Addr().String()

	t.Run("embedded NATS", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		err := daemon.Run(t.Context(), daemon.Config{
			ConnectURL: "http://127.0.0.1:1" + emulator.Path, HTTPListen: addr,
			EmbeddedListen: "127.0.0.1:-1", EmbeddedDir: dir, Logger: zerolog.Nop(),
		})
		require.ErrorContains(t, err, "HTTP listen "+addr)
		_, statErr := os.Stat(dir)
		require.ErrorIs(t, statErr, os.ErrNotExist, "the embedded server was not started")
	})
	t.Run("external NATS", func(t *testing.T) {
		srv := natstest.Server(t)
		_, js := natstest.Connect(t, srv.ClientURL())
		err := daemon.Run(t.Context(), daemon.Config{
			NATS:       natsconn.ConnFlags{Server: srv.ClientURL()},
			ConnectURL: "http://127.0.0.1:1" + emulator.Path, HTTPListen: addr, Logger: zerolog.Nop(),
		})
		require.ErrorContains(t, err, "HTTP listen "+addr)
		require.Equal(t, 1, srv.NumClients(), "only the test's own connection: Run never connected")
		names := js.StreamNames(t.Context())
		for name := range names.Name() {
			t.Errorf("stream %s was created", name)
		}
		require.NoError(t, names.Err())
		_, err = js.KeyValue(t.Context(), quota.DefaultBucket)
		require.ErrorIs(t, err, jetstream.ErrBucketNotFound)
	})
}

// TestRunStopsEverythingItStarted runs the whole process against a real
// JetStream server and the sandbox service until it is ready, then ends
// its context: Run returns nil, its HTTP address is free again, and
// TestMain finds no goroutine of it left.
func TestRunStopsEverythingItStarted(t *testing.T) {
	srv := natstest.Server(t)
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
			// A short fetch: shutting down waits for the one under way.
			Worker: worker.Config{Operations: []string{"ClientUserEdit"}, FetchWait: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second},
			Quota:  daemon.QuotaConfig{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Reserve: -1},
			Logger: zerolog.Nop(),
		})
	}()
	waitReady(t, addr, done)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the HTTP address was given back")
	require.NoError(t, ln.Close())
}

// TestRunStopsTheOthersWhenOnePartEnds closes the NATS connection for
// good under a running process (the server comes back refusing its
// password): the watch on the connection ends Run with an error, and the
// worker and the HTTP server are stopped and waited for first.
func TestRunStopsTheOthersWhenOnePartEnds(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := free.Addr().(*net.TCPAddr).Port
	require.NoError(t, free.Close())
	users := func(password string) func(*server.Options) {
		return func(o *server.Options) {
			o.Users = []*server.User{{Username: "worker", Password: password}}
		}
	}
	dir := t.TempDir()
	srv := natstest.ServerWith(t, port, dir, users("right"))
	emu, err := emulator.New(emulator.Config{})
	require.NoError(t, err)
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	httpFree, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := httpFree.Addr().String()
	require.NoError(t, httpFree.Close())

	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(t.Context(), daemon.Config{
			NATS:       natsconn.ConnFlags{Server: srv.ClientURL(), User: "worker", Password: "right"},
			ConnectURL: api.URL + emulator.Path, ConnectUser: "admin", ConnectPassword: "admin",
			HTTPListen: addr,
			Worker:     worker.Config{Operations: []string{"ClientUserEdit"}, FetchWait: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second},
			Quota:      daemon.QuotaConfig{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Reserve: -1},
			Logger:     zerolog.Nop(),
		})
	}()
	waitReady(t, addr, done)

	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.ServerWith(t, port, dir, users("changed"))
	select {
	case err := <-done:
		require.ErrorContains(t, err, "closed for good")
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not end when its NATS connection was closed for good")
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the HTTP server was stopped")
	require.NoError(t, ln.Close())
}

// waitReady waits until the process on addr answers /readyz with 200,
// failing the test if Run (done) ends first.
func waitReady(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			t.Fatalf("Run ended before it was ready: %v", err)
		case <-deadline:
			t.Fatal("the worker never became ready")
		case <-tick.C:
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
	}
}
