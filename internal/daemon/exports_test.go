package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/daemon"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// historyCalls is the history read the exports' tests export.
const historyCalls = "GetHistoryOfServiceCalls"

// TestRunRefusesExportsOfReadsWithoutAPeriod: an export of a read that
// takes no period, of no operation at all, or with bad settings, is
// refused before anything is contacted, and the error names the reads
// that can be exported.
func TestRunRefusesExportsOfReadsWithoutAPeriod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	iv := export.Duration(time.Hour)
	cases := []struct {
		name    string
		exports daemon.ExportsConfig
		want    []string
	}{
		{"not a period read", daemon.ExportsConfig{Exports: []export.Export{{Op: "ClientUserRead", Interval: iv}}},
			[]string{"ClientUserRead is a ChangeRead without PeriodFrom", "GetHistoryOfServiceCalls (7 days, confirmed)"}},
		{"no such read", daemon.ExportsConfig{Exports: []export.Export{{Op: "GetHistoryOfEverything", Interval: iv}}},
			[]string{`"GetHistoryOfEverything"`, "GetHistoryOfServiceCalls (7 days, confirmed)"}},
		{"no interval", daemon.ExportsConfig{Exports: []export.Export{{Op: historyCalls}}},
			[]string{"an interval is required"}},
		{"a chunk over the confirmed bound", daemon.ExportsConfig{Exports: []export.Export{{Op: historyCalls, Interval: iv, Chunk: export.Duration(8 * 24 * time.Hour)}}},
			[]string{"reads at most 168h0m0s by day (confirmed)"}},
		{"share over 1", daemon.ExportsConfig{Exports: []export.Export{{Op: historyCalls, Interval: iv}}, Share: 1.5},
			[]string{"export share 1.5"}},
		{"negative history max age", daemon.ExportsConfig{Exports: []export.Export{{Op: historyCalls, Interval: iv}}, HistoryMaxAge: -time.Hour},
			[]string{"negative history max age"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// An HTTP address in use and no NATS: the exports are refused
			// first, so neither is ever tried.
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = busy.Close() })
			err = daemon.Run(ctx, daemon.Config{ConnectURL: "http://127.0.0.1:1", HTTPListen: busy.Addr().String(), Exports: c.exports})
			require.Error(t, err)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "HTTP listen")
		})
	}
}

// exportWorld is a sandbox with 100 days of generated history whose
// windows are a second long, and the process's settings against it: the
// quota's windows of a second too, 10 calls of GetHistoryOfServiceCalls
// in each, and its zone UTC, the sandbox's account's.
type exportWorld struct {
	url string // the NATS server's
	js  jetstream.JetStream
	emu *emulator.Server
	api string
	cfg daemon.Config
}

func newExportWorld(t *testing.T, exports ...export.Export) *exportWorld {
	t.Helper()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	limits := map[string]int{"*": 100000, historyCalls: 10}
	emu, err := emulator.New(emulator.Config{Location: time.UTC, Seed: 1, SeedHistory: 100, Window: time.Second, Limits: limits})
	require.NoError(t, err)
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	return &exportWorld{url: srv.ClientURL(), js: js, emu: emu, api: api.URL + emulator.Path, cfg: daemon.Config{
		NATS:       natsconn.ConnFlags{Server: srv.ClientURL()},
		ConnectURL: api.URL + emulator.Path, ConnectUser: "admin", ConnectPassword: "admin",
		Worker: worker.Config{Operations: []string{"ClientUserEdit"}, FetchWait: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second},
		Quota: daemon.QuotaConfig{Windows: quota.Windows{Length: time.Second, Guard: 100 * time.Millisecond, Location: time.UTC},
			Reserve: -1, Limits: limits},
		Exports: daemon.ExportsConfig{Exports: exports, LeaseTTL: 2 * time.Second},
		Logger:  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}}
}

// historyRow is one message of CONNECT_HISTORY.
type historyRow struct {
	export.Row
	msgID, rowID string
}

// historyRows reads every message of CONNECT_HISTORY, in order.
func historyRows(t *testing.T, js jetstream.JetStream) []historyRow {
	t.Helper()
	ctx := t.Context()
	st, err := js.Stream(ctx, export.HistoryStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out []historyRow
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		require.NoError(t, err)
		r, err := export.DecodeRow(m.Data)
		require.NoError(t, err)
		out = append(out, historyRow{Row: r, msgID: m.Header.Get("Nats-Msg-Id"), rowID: m.Header.Get(export.HeaderRowID)})
	}
	return out
}

// exportState reads the stored state of an export.
func exportState(t *testing.T, js jetstream.JetStream, name string) export.State {
	t.Helper()
	st, err := export.Status(t.Context(), js, export.StatusConfig{Exports: []export.Export{{Name: name}}}, time.Now())
	if err != nil {
		return export.State{}
	}
	return st[0].State
}

// TestRunRunsTheExportsBesideTheWorker runs the whole process with an
// export of three months of GetHistoryOfServiceCalls against a sandbox
// whose account is in UTC, the quota's zone UTC too: /readyz is ready
// once the history stream and the export buckets are set up; every
// generated row arrives once, each within the period it was read in
// (PeriodFrom and PeriodTo written in the quota's zone: in Moscow time
// every period would be 3 hours off); the sandbox never answered
// OUT_OF_LIMIT nor took more calls in a window than its limit; the calls
// are in the shared ledger under the exports' share; the exports' series
// are on /metrics beside the worker's. Then, as tools beside the running
// process: `worker exports` shows the export caught up and held, and a
// rerun of an exported month publishes nothing new.
func TestRunRunsTheExportsBesideTheWorker(t *testing.T) {
	since := time.Now().UTC().AddDate(0, -3, 0).Truncate(time.Second)
	x := export.Export{Op: historyCalls, Since: since, Interval: export.Duration(time.Hour)}
	w := newExportWorld(t, x)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())
	cfg := w.cfg
	cfg.HTTPListen = addr

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	waitReady(t, addr, done)
	_, err = w.js.Stream(ctx, export.HistoryStream)
	require.NoError(t, err, "ready before the history stream was set up")

	// 13 chunks of 7 days and the rest, at 5 calls a second (half of 10).
	end := time.Now().Add(-11 * time.Minute)
	var st export.State
	require.Eventually(t, func() bool {
		st = exportState(t, w.js, historyCalls)
		return st.Marker.After(end)
	}, time.Minute, 20*time.Millisecond, "the export catches up")

	want, err := w.emu.History(historyCalls, since, st.Marker)
	require.NoError(t, err)
	require.Greater(t, len(want), 90*20, "three months of calls, about 24 a day")
	rows := historyRows(t, w.js)
	got := map[string]int{}
	for _, r := range rows {
		start, err := soap.ParseTime(r.Row.Row["Start"].(string), time.UTC)
		require.NoError(t, err)
		if start.Before(r.Period.From) || !start.Before(r.Period.To) {
			require.Failf(t, "a row out of its period", "%s not in [%s, %s): PeriodFrom and PeriodTo not in the quota's zone?", start, r.Period.From, r.Period.To)
		}
		require.Equal(t, historyCalls+"."+r.rowID, r.msgID)
		got[r.rowID]++
	}
	for _, r := range want {
		require.Equal(t, 1, got[r.Row["ServiceCallID"].Text], "row %s", r.Row["ServiceCallID"].Text)
	}
	require.Len(t, rows, len(want), "nothing else")
	require.EqualValues(t, len(want), st.Published)
	stats := w.emu.Stats()
	require.Zero(t, stats.OutOfLimit[historyCalls], "no OUT_OF_LIMIT")
	require.LessOrEqual(t, stats.MaxCallsInWindow[historyCalls], 5, "never more than the exports' share of the limit in a window")
	require.Equal(t, int(st.Calls), stats.Calls[historyCalls], "every call the sandbox saw is the export's")

	// The exports' calls come from the worker's ledger, counted under
	// their share.
	q, err := w.js.KeyValue(ctx, quota.DefaultBucket)
	require.NoError(t, err)
	keys, err := q.ListKeys(ctx)
	require.NoError(t, err)
	var shared []string
	for k := range keys.Keys() {
		if strings.HasPrefix(k, "share.exports."+historyCalls+".") {
			shared = append(shared, k)
		}
	}
	require.NotEmpty(t, shared, "the exports' calls are in the shared ledger, under their share")

	var page string
	require.Eventually(t, func() bool {
		page = httpGet(t, "http://"+addr+"/metrics")
		return strings.Contains(page, `connect_export_published_total{export="GetHistoryOfServiceCalls"} `)
	}, 10*time.Second, 20*time.Millisecond)
	for _, series := range []string{
		`connect_export_reads_total{export="GetHistoryOfServiceCalls",outcome="success"}`,
		`connect_export_calls_total{export="GetHistoryOfServiceCalls"}`,
		`connect_export_rows_total{export="GetHistoryOfServiceCalls"}`,
		`connect_export_lag_seconds{export="GetHistoryOfServiceCalls"}`,
		`connect_worker_queue_depth{op="ClientUserEdit"}`,
		`go_goroutines`,
	} {
		require.Contains(t, page, series)
	}

	t.Run("worker exports", func(t *testing.T) {
		tool := w.cfg
		tool.Exports.Exports = append(tool.Exports.Exports, export.Export{Name: "never-run", Op: "GetHistoryOfSIPCalls", Interval: export.Duration(time.Hour)})
		var out strings.Builder
		require.NoError(t, daemon.PrintExports(ctx, tool, &out))
		t.Logf("worker exports:\n%s", out.String())
		lines := strings.Split(out.String(), "\n")
		require.Contains(t, lines[0], "exports at ")
		require.Contains(t, lines[0], "(times in UTC)")
		var row, never string
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, historyCalls+" "):
				row = l
			case strings.HasPrefix(l, "never-run "):
				never = l
			}
		}
		require.NotEmpty(t, row, out.String())
		f := strings.Fields(row)
		require.Equal(t, []string{historyCalls, historyCalls, "1h0m0s"}, f[:3])
		require.Contains(t, row, "yes", "held by the running process")
		require.NotContains(t, row, "*", "the shared ledger was read")
		require.Regexp(t, ` \d{4}-\d\d-\d\d \d\d:\d\d:\d\d `, row, "the marker")
		require.NotEmpty(t, never, "an export configured but never run has its line: %s", out.String())
		require.Contains(t, never, "GetHistoryOfSIPCalls")
		require.Contains(t, out.String(), "MARKER: the end of the last chunk")
	})

	t.Run("a rerun of an exported month publishes nothing new", func(t *testing.T) {
		before := len(historyRows(t, w.js))
		from, to := since.AddDate(0, 1, 0), since.AddDate(0, 2, 0)
		var out strings.Builder
		require.NoError(t, daemon.RerunExport(ctx, w.cfg, historyCalls, from, to, &out))
		t.Log(out.String())
		inMonth, err := w.emu.History(historyCalls, from, to)
		require.NoError(t, err)
		require.Contains(t, out.String(), "rerun of GetHistoryOfServiceCalls from "+from.Format(time.RFC3339)+" to "+to.Format(time.RFC3339))
		require.Contains(t, out.String(), ": 5 chunks in 5 calls, ")
		require.Contains(t, out.String(), " rows read: 0 published, ")
		require.Contains(t, out.String(), " "+strconv.Itoa(len(inMonth))+" already in CONNECT_HISTORY")
		require.Equal(t, before, len(historyRows(t, w.js)))
		stats := w.emu.Stats()
		require.Zero(t, stats.OutOfLimit[historyCalls])
		require.LessOrEqual(t, stats.MaxCallsInWindow[historyCalls], 5, "the rerun spends the same share as the running export")
	})

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestReadyzWaitsForTheExports: a process whose exports cannot set their
// stream up (the subjects are taken by another stream) is never ready,
// and /readyz says why.
func TestReadyzWaitsForTheExports(t *testing.T) {
	w := newExportWorld(t, export.Export{Op: historyCalls, Interval: export.Duration(time.Hour)})
	_, err := w.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "SQUATTER", Subjects: []string{export.HistoryPrefix + ">"}})
	require.NoError(t, err)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())
	cfg := w.cfg
	cfg.HTTPListen = addr
	cfg.Logger = zerolog.Nop()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	var body string
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "history stream")
	}, 30*time.Second, 20*time.Millisecond, "last answer: %s", body)
	require.Contains(t, body, "export: the history stream and the export buckets are not set up yet")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestRerunRefusesWhatItCannotRead: a rerun whose exports are bad, or
// whose name is an operation of several exports (whose filters to read
// with cannot be guessed), is refused before anything is contacted.
func TestRerunRefusesWhatItCannotRead(t *testing.T) {
	iv := export.Duration(time.Hour)
	two := []export.Export{{Name: "a", Op: historyCalls, Interval: iv}, {Name: "b", Op: historyCalls, Interval: iv}}
	cases := []struct {
		name    string
		exports []export.Export
		rerun   string
		want    string
	}{
		{"an operation of two exports", two, historyCalls, "GetHistoryOfServiceCalls is read by 2 exports (a, b): name one of them"},
		{"a bad export", []export.Export{{Op: "ClientUserRead", Interval: iv}}, "ClientUserRead", "ClientUserRead is a ChangeRead without PeriodFrom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// No NATS there: a rerun that got as far as connecting would
			// fail otherwise.
			cfg := daemon.Config{NATS: natsconn.ConnFlags{Server: "nats://127.0.0.1:1"}, ConnectURL: "http://127.0.0.1:1",
				Exports: daemon.ExportsConfig{Exports: c.exports}}
			var out strings.Builder
			err := daemon.RerunExport(t.Context(), cfg, c.rerun, time.Now().Add(-time.Hour), time.Now(), &out)
			require.ErrorContains(t, err, c.want)
			require.Empty(t, out.String())
		})
	}
}
