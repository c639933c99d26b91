package main

import (
	"errors"
	"net"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestWorkerExitsWhenNATSRefusesItForGood replaces the worker's NATS
// server by one that refuses its credentials: the client gives up (a
// connection closed for good), and the worker process must exit with an
// error, so that the orchestrator restarts it, rather than live on
// without NATS.
func TestWorkerExitsWhenNATSRefusesItForGood(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	dir := t.TempDir()
	first := natstest.ServerWith(t, -1, dir, nil)
	emu, err := emulator.New(emulator.Config{})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)

	url := first.ClientURL()
	w := startWorker(t,
		"--nats-url", url,
		"--connect-url", hs.URL+emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", "off", "--log-level", "info", "--operations", "ClientUserEdit", "--local-quota",
	)
	w.WaitOutput(t, "worker started", 30*time.Second)

	// The same address, now requiring a token the worker does not have.
	_, port, err := net.SplitHostPort(first.Addr().String())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	first.Shutdown()
	first.WaitForShutdown()
	natstest.ServerWith(t, p, dir, func(o *server.Options) { o.Authorization = "only-for-others" })

	done := make(chan error, 1)
	go func() { done <- w.Cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "the worker exited with an error status, got %v", err)
		require.Equal(t, 1, exit.ExitCode())
		require.Contains(t, w.Out.String(), "closed for good")
	case <-time.After(60 * time.Second):
		t.Fatal("the worker lives on without NATS")
	}
}
