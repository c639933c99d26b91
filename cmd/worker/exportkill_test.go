package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// The export of the kill test: a year of calls, at most 10 calls of its
// read in a sandbox's window of a second, 5 of them the exports' share.
const (
	killOp      = "GetHistoryOfServiceCalls"
	killIDCol   = "ServiceCallID"
	killLimit   = 10
	killShare   = killLimit / 2
	killChunk   = 7 * 24 * time.Hour
	killHeldAt  = 27 // the call held half-way and killed: chunks 1–26 are stored
	killTimeout = 3 * time.Minute
)

// TestKilledExportLosesAndRepeatsNothing exports a year of
// GetHistoryOfServiceCalls from a sandbox with a real worker process,
// under windows of a second and the read's limit of 10 calls in each,
// and kills it (SIGKILL) mid-year, in the middle of a chunk: the 27th
// call's answer is held half-way, so that some of its rows are in
// CONNECT_HISTORY while the marker is still at the end of the 26th.
// Another process resumes from the marker. In the end every generated row
// is in the stream exactly once (by Connect-Row-Id and Nats-Msg-Id), and
// nothing else; the sandbox never answered OUT_OF_LIMIT and never took
// more calls in a window than the exports' share of its limit (the
// ledger is shared, so the second process counts the first's calls); and
// `worker export rerun` of an exported range publishes nothing new.
//
// The stream's duplicate window (24h) drops a row published again with
// the same Nats-Msg-Id, so the stream alone cannot tell "not published
// again" from "published again and dropped". A plain subscriber on
// connect.history.> sees every publish, dropped ones included: it shows
// that what the second process published again is the held chunk, and no
// chunk stored before the kill.
func TestKilledExportLosesAndRepeatsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes")
	}
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	ctx := context.Background()
	limits := map[string]int{"*": 100000, killOp: killLimit}
	emu, err := emulator.New(emulator.Config{Seed: 1, SeedHistory: 365, Window: time.Second, Limits: limits})
	require.NoError(t, err)
	gate := &halfGate{h: emu, op: killOp, n: killHeldAt, held: make(chan struct{})}
	hs := httptest.NewServer(gate)
	t.Cleanup(hs.Close)

	// Every publish on the history subjects, as the server routes it.
	wire := &publishes{n: map[string]int{}}
	sub, err := nc.Subscribe(export.HistoryPrefix+">", func(m *nats.Msg) { wire.add(m.Header.Get(export.HeaderRowID)) })
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	require.NoError(t, nc.Flush())

	zone, err := time.LoadLocation("Europe/Moscow") // the sandbox's account and --quota-tz, both by default
	require.NoError(t, err)
	since := time.Now().In(zone).AddDate(-1, 0, 0).Truncate(time.Second)
	conf := filepath.Join(t.TempDir(), "worker.json")
	b, err := json.Marshal(map[string]any{"exports": []map[string]any{{"op": killOp, "interval": "1h", "since": since}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(conf, b, 0o600))
	common := []string{
		"--nats-url", srv.ClientURL(),
		"--connect-url", hs.URL + emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", "off", "--log-level", "warn", "--operations", "ClientUserEdit",
		"--quota-window", "1s", "--quota-guard", "100ms", "--quota-reserve", "0",
		"--limit", "*=100000", "--limit", fmt.Sprintf("%s=%d", killOp, killLimit),
		"--config", conf, "--export-lease-ttl", "2s",
	}
	stored := func() uint64 {
		st, err := js.Stream(ctx, export.HistoryStream)
		if err != nil {
			return 0
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}

	first := startWorker(t, common...)
	select {
	case <-gate.held:
	case <-time.After(killTimeout):
		t.Fatalf("call %d of %s never came; worker output: %s", killHeldAt, killOp, first.Out.String())
	}
	marker := since.Add((killHeldAt - 1) * killChunk)
	before, err := emu.History(killOp, since, marker)
	require.NoError(t, err)
	waitUntil(t, time.Minute, "some rows of the held chunk in the stream", func() bool { return stored() > uint64(len(before)) })
	require.True(t, marker.Equal(killState(t, js).Marker), "the marker is the end of chunk %d", killHeldAt-1)
	require.NoError(t, first.Cmd.Process.Kill())
	_ = first.Cmd.Wait()
	atKill := stored()
	st := killState(t, js)
	require.True(t, marker.Equal(st.Marker), "killed mid-chunk: the marker did not move")
	require.Greater(t, atKill, uint64(len(before)), "rows of the held chunk were stored before the kill")
	heldRows, err := emu.History(killOp, marker, marker.Add(killChunk))
	require.NoError(t, err)
	require.Less(t, atKill, uint64(len(before)+len(heldRows)), "killed before the held chunk was all stored")
	t.Logf("killed the worker with the marker at %s (chunk %d of 53), %d rows stored", marker.Format(time.DateTime), killHeldAt-1, atKill)
	publishedAtKill := wire.get()

	second := startWorker(t, common...)
	horizon := time.Now().Add(-11 * time.Minute) // the default settle is 10 minutes
	waitUntil(t, killTimeout, "the year exported", func() bool {
		st = killState(t, js)
		return st.Marker.After(horizon)
	})
	require.NoError(t, second.Cmd.Process.Signal(os.Interrupt))
	_ = second.Cmd.Wait()

	// Every generated row once, nothing else.
	want, err := emu.History(killOp, since, st.Marker)
	require.NoError(t, err)
	require.Greater(t, len(want), 365*20, "a year of calls, about 24 a day")
	rows := killRows(t, js)
	got := map[string]int{}
	for _, r := range rows {
		got[r.rowID]++
		if r.msgID != killOp+"."+r.rowID || r.row.Row[killIDCol] != r.rowID {
			require.Equal(t, killOp+"."+r.rowID, r.msgID, "Nats-Msg-Id is the operation and the row's identity")
			require.Equal(t, r.row.Row[killIDCol], r.rowID, "rows are identified by their id column")
		}
	}
	for _, r := range want {
		id := r.Row[killIDCol].Text
		if got[id] != 1 {
			require.Equal(t, 1, got[id], "row %s (started %s) in the stream", id, r.Start)
		}
	}
	require.Len(t, rows, len(want), "nothing else in the stream")
	require.Len(t, got, len(want))

	// What was published again: rows of the held chunk only, and some.
	inHeld := map[string]bool{}
	for _, r := range heldRows {
		inHeld[r.Row[killIDCol].Text] = true
	}
	again := 0
	for id, n := range wire.get() {
		require.LessOrEqual(t, n, 2, "%s published %d times", id, n)
		if n == 2 {
			again++
			require.True(t, inHeld[id], "%s, of a chunk stored before the kill, was published again", id)
			require.Equal(t, 1, publishedAtKill[id], "%s: published before the kill", id)
		}
	}
	require.Positive(t, again, "the held chunk was read again after the restart, its stored rows dropped as duplicates")
	t.Logf("published again after the restart (dropped by the duplicate window): %d rows of the held chunk", again)

	stats := emu.Stats()
	require.Zero(t, stats.OutOfLimit[killOp], "no OUT_OF_LIMIT")
	require.LessOrEqual(t, stats.MaxCallsInWindow[killOp], killShare, "never more calls in a window than the exports' share of the limit")
	require.Equal(t, int(st.Calls)+1, stats.Calls[killOp], "every call counted in the state, and the one killed")
	require.Empty(t, st.Failed)

	t.Run("a rerun of an exported range publishes nothing new", func(t *testing.T) {
		from, to := since.AddDate(0, 1, 0), since.AddDate(0, 2, 0)
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// Bounds as wall clocks of the account's zone, one of the forms
		// the command line takes.
		args := append([]string{"export", "rerun", killOp, "--from", from.Format("2006-01-02T15:04:05"), "--to", to.Format("2006-01-02T15:04:05")}, common...)
		cmd := exec.CommandContext(rctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), "RUN_WORKER_MAIN=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
		inRange, err := emu.History(killOp, from, to)
		require.NoError(t, err)
		t.Log(strings.TrimSpace(stdout.String()))
		require.Contains(t, stdout.String(), fmt.Sprintf("rows read: 0 published, %d already in %s", len(inRange), export.HistoryStream))
		require.Equal(t, uint64(len(want)), stored(), "nothing new in the stream")
		stats := emu.Stats()
		require.Zero(t, stats.OutOfLimit[killOp])
		require.LessOrEqual(t, stats.MaxCallsInWindow[killOp], killShare)
	})
}

// halfGate passes requests to the sandbox, but holds the n-th call of op
// half-way: it sends the first half of the answer, then waits until the
// client goes away.
type halfGate struct {
	h     http.Handler
	op    string
	n     int32
	calls atomic.Int32
	held  chan struct{}
	once  sync.Once
}

func (g *halfGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !bytes.Contains(body, []byte(g.op)) || g.calls.Add(1) != g.n {
		g.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	g.h.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	b := rec.Body.Bytes()
	_, _ = w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	g.once.Do(func() { close(g.held) })
	<-r.Context().Done()
}

// killState reads the export's stored state.
func killState(t *testing.T, js jetstream.JetStream) export.State {
	t.Helper()
	st, err := export.Status(context.Background(), js, export.StatusConfig{Exports: []export.Export{{Name: killOp}}}, time.Now())
	if err != nil {
		return export.State{}
	}
	return st[0].State
}

// killRow is one message of CONNECT_HISTORY.
type killRow struct {
	row          export.Row
	msgID, rowID string
}

// killRows reads every message of CONNECT_HISTORY, in stream order.
func killRows(t *testing.T, js jetstream.JetStream) []killRow {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, export.HistoryStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	c, err := js.OrderedConsumer(ctx, export.HistoryStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	out := make([]killRow, 0, info.State.Msgs)
	deadline := time.Now().Add(time.Minute)
	for uint64(len(out)) < info.State.Msgs {
		require.True(t, time.Now().Before(deadline), "read %d of %d rows", len(out), info.State.Msgs)
		batch, err := c.Fetch(int(min(1000, info.State.Msgs-uint64(len(out)))), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			r, err := export.DecodeRow(m.Data())
			require.NoError(t, err)
			out = append(out, killRow{row: r, msgID: m.Headers().Get("Nats-Msg-Id"), rowID: m.Headers().Get(export.HeaderRowID)})
		}
	}
	return out
}
