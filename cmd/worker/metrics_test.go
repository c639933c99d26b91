package main

import (
	"context"
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
// /metrics after a command went through and a change feed polled: the Go
// runtime's and the process's series are there, and so is every
// connect_worker_, connect_feed_ and connect_export_ series the README
// names.
func TestMetricsScrapeShowsEveryDocumentedSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, name := range regexp.MustCompile(`connect_(worker|feed|export)_[a-z_]+[a-z]`).FindAllString(string(readme), -1) {
		documented[name] = true
	}
	require.GreaterOrEqual(t, len(documented), 12, "the README lists the worker's series")
	feedSeries := 0
	for name := range documented {
		if strings.HasPrefix(name, "connect_feed_") {
			feedSeries++
		}
	}
	require.GreaterOrEqual(t, feedSeries, 6, "the README lists the feeds' series")

	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{SeedHistory: 2})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(1)
	addr := freeAddr(t)
	w := startWorker(t, "--nats-url", srv.ClientURL(), "--connect-url", hs.URL+emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--operations", "ClientUserEdit", "--max-wait", "20ms", "--local-quota",
		"--feed", "ClientUserRead=200ms", "--export", "GetHistoryOfServiceCalls=1h")
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
	// And an unreadable one: its dead letter is counted.
	bad := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
	bad.Data = []byte("\xc1 not a command")
	bad.Header.Set(contract.HeaderReplyTo, inbox)
	_, err = js.PublishMsg(context.Background(), bad)
	require.NoError(t, err)
	msg, err = sub.NextMsg(30 * time.Second)
	require.NoError(t, err)
	r, err = contract.DecodeResult(msg.Data)
	require.NoError(t, err)
	require.Equal(t, contract.CodeInvalidCommand, r.Code)

	scrape := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	// The feed's per-poll series (the clock skew) appear with its first
	// complete poll, which may come after the command's result.
	polled := regexp.MustCompile(`\nconnect_feed_polls_total\{feed="ClientUserRead",outcome="success"\} [1-9]`)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	page := scrape()
	for !polled.MatchString(page) {
		select {
		case <-deadline:
			t.Fatalf("the feed made no complete poll in 30s:\n%s", w.Out.String())
		case <-tick.C:
			page = scrape()
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		require.Contains(t, page, "\n"+name+" ", "%s is exported", name)
	}
	for name := range documented {
		require.True(t, strings.Contains(page, "# TYPE "+name+" "), "%s, which the README names, is exported", name)
	}
}
