package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestMetricsScrapeShowsEveryDocumentedSeries scrapes a worker process's
// /metrics after a command went through: the Go runtime's and the
// process's series are there, and so is every connect_worker_ series the
// README names.
func TestMetricsScrapeShowsEveryDocumentedSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, name := range regexp.MustCompile(`connect_worker_[a-z_]+[a-z]`).FindAllString(string(readme), -1) {
		documented[name] = true
	}
	require.GreaterOrEqual(t, len(documented), 12, "the README lists the worker's series")

	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(1)
	addr := freeAddr(t)
	w := startWorker(t, "--nats-url", srv.ClientURL(), "--connect-url", hs.URL+emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--operations", "ClientUserEdit", "--max-wait", "20ms", "--local-quota")
	w.WaitOutput(t, "worker started", time.Minute)

	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	publishAsync(t, js, "ClientUserEdit", "m-1", inbox, map[string]any{"ClientUserID": users[0], "Name": "M", "Password": "p", "Phone": "1", "EMail": "m@x.ru"})
	msg, err := sub.NextMsg(30 * time.Second)
	require.NoError(t, err)
	r, err := contract.DecodeResult(msg.Data)
	require.NoError(t, err)
	require.Equal(t, contract.CodeSuccess, r.Code)

	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	page := string(body)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		require.Contains(t, page, "\n"+name+" ", "%s is exported", name)
	}
	for name := range documented {
		require.True(t, strings.Contains(page, "# TYPE "+name+" "), "%s, which the README names, is exported", name)
	}
}
