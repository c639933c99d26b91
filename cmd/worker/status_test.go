package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// chromium returns the path of a Chromium to drive, or skips the test when
// there is none (CI installs Debian's chromium: .ci/run; there the test
// fails instead of skipping).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on this CI machine: .ci/run installs Debian's chromium")
	}
	t.Skip("no Chromium here (apt-get install chromium); .ci/run installs it for CI")
	return ""
}

// cell is one number of the status page, with the series it shows.
type cell struct {
	Metric string `json:"metric"`
	Op     string `json:"op"`
	Code   string `json:"code"`
	Feed   string `json:"feed"`
	Text   string `json:"text"`
}

// scrapeFamilies reads /metrics.
func scrapeFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	return mfs
}

// sum adds up the samples of a family whose labels include want.
func sum(mf *dto.MetricFamily, want map[string]string) float64 {
	total := 0.0
	for _, m := range mf.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// TestStatusPageInABrowser runs the worker with traffic and a change feed,
// opens its status page in headless Chromium, and checks that every
// number the page shows is the one /metrics gives; then sends more
// commands and waits for the page to show them without being reloaded;
// and saves a screenshot (to $STATUS_SCREENSHOT too, when set: that is
// how the README's picture is made).
func TestStatusPageInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process and a browser")
	}
	chrome := chromium(t)
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{LatencyMin: 5 * time.Millisecond, LatencyMax: 5 * time.Millisecond})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(60)
	addr := freeAddr(t)
	w := startWorker(t, "--nats-url", srv.ClientURL(), "--connect-url", hs.URL+emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--max-wait", "50ms", "--local-quota", "--feed", "ClientUserRead=1s")
	w.WaitOutput(t, "worker started", time.Minute)

	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	send := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			publishAsync(t, js, "ClientUserEdit", fmt.Sprintf("s-%d", i), inbox, map[string]any{
				"ClientUserID": users[i], "Name": "Имя", "Password": "p", "Phone": "1", "EMail": fmt.Sprintf("u%d@example.com", i)})
		}
		for range to - from {
			_, err := sub.NextMsg(30 * time.Second)
			require.NoError(t, err)
		}
	}
	send(0, 30)
	bad := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
	bad.Data = []byte("\xc1 not a command")
	bad.Header.Set(contract.HeaderReplyTo, inbox)
	_, err = js.PublishMsg(context.Background(), bad)
	require.NoError(t, err)
	_, err = sub.NextMsg(30 * time.Second)
	require.NoError(t, err)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1400, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()

	page := "http://" + addr + "/"
	const readCells = `Array.from(document.querySelectorAll("[data-metric]")).map(e => ({
		metric: e.dataset.metric, op: e.dataset.op || "", code: e.dataset.code || "", feed: e.dataset.feed || "", text: e.textContent.trim()}))`
	_, err = chromedp.Run(ctx, chromedp.Steps(
		chromedp.Navigate(page),
		chromedp.WaitVisible("#operations"),
		chromedp.WaitVisible(`[data-metric="connect_feed_lag_seconds"]`),
	))
	require.NoError(t, err)
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]cell](readCells))
	require.NoError(t, err)
	mfs := scrapeFamilies(t, page+"metrics")

	checked := map[string]bool{}
	for _, c := range cells {
		if c.Metric == "connect_feed_lag_seconds" {
			require.Equal(t, "ClientUserRead", c.Feed)
			checked[c.Metric] = true
			continue // it moves with the clock
		}
		mf, ok := mfs[c.Metric]
		require.True(t, ok, "the page shows %s, which /metrics does not export", c.Metric)
		want := map[string]string{}
		if c.Op != "" {
			want["op"] = c.Op
		}
		if c.Code != "" {
			want["code"] = c.Code
		}
		got, err := strconv.ParseFloat(c.Text, 64)
		require.NoError(t, err, "%+v", c)
		require.Equal(t, sum(mf, want), got, "%+v", c)
		checked[c.Metric] = true
	}
	for _, m := range []string{"connect_worker_commands_received_total", "connect_worker_queue_depth", "connect_worker_calls_in_flight",
		"connect_worker_api_calls_total", "connect_worker_quota_used", "connect_worker_quota_limit", "connect_worker_results_total",
		"connect_worker_dead_letters_total", "connect_feed_lag_seconds"} {
		require.True(t, checked[m], "the page shows no %s", m)
	}
	success := `document.querySelector('#results [data-code="SUCCESS"]').textContent.trim()`
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](success))
	require.NoError(t, err)
	require.Equal(t, "30", before)

	// More commands: the page shows them without a reload.
	send(30, 50)
	// The page refreshes itself every 2 s; the browser polls the cell.
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](success+` === "50"`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the page did not show the 50 results without a reload")

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NotEmpty(t, png)
	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "status.png"), png, 0o644))
	if out := os.Getenv("STATUS_SCREENSHOT"); out != "" {
		require.NoError(t, os.WriteFile(out, png, 0o644))
	}
}
