package benchrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
)

// Line 15: a history export's chunk of about 100,000 rows: one answer of
// a week of GetHistoryOfServiceCalls decoded and published row by row to
// CONNECT_HISTORY by the real worker binary, and the memory that takes.

// historyRead is the read line 15 exports, and historyWeek its chunk:
// the read's bound by day.
const (
	historyRead = "GetHistoryOfServiceCalls"
	historyWeek = 7 * 24 * time.Hour
)

// historySettle is the export's settle: its default.
const historySettle = 10 * time.Minute

// historySandbox returns a sandbox whose week [since, since+7d) holds
// about rows rows of historyRead, and since. The generated history draws
// each day's count from the seed and the date (up to twice the day's
// average), so a first sandbox counts the week at a guessed average and
// a second one scales the average to the rows wanted.
func historySandbox(rows int) (*emulator.Server, time.Time, int, error) {
	// The week ends just before the horizon of an export with the
	// default settle: the chunk is read at once, and the read of the
	// newest part after it holds a few rows only.
	since := time.Now().Add(-historyWeek - historySettle - 30*time.Second).Truncate(time.Second)
	perDay := max(1, rows/7)
	for range 2 {
		emu, err := emulator.New(emulator.Config{Seed: 1, SeedHistory: 9, HistoryPerDay: perDay, Limits: map[string]int{"*": unlimited}})
		if err != nil {
			return nil, time.Time{}, 0, err
		}
		got, err := emu.History(historyRead, since, since.Add(historyWeek))
		if err != nil {
			return nil, time.Time{}, 0, err
		}
		if len(got) == 0 {
			return nil, time.Time{}, 0, errors.New("the sandbox generated no history for the week")
		}
		if d := len(got) - rows; d*d <= (rows/20)*(rows/20) {
			return emu, since, len(got), nil // within 5%
		}
		perDay = min(emulator.MaxHistoryPerDay, max(1, perDay*rows/len(got)))
	}
	emu, err := emulator.New(emulator.Config{Seed: 1, SeedHistory: 9, HistoryPerDay: perDay, Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	got, err := emu.History(historyRead, since, since.Add(historyWeek))
	return emu, since, len(got), err
}

// historyChunk is the line-15 measurement.
type historyChunk struct {
	Rows int
	// AnswerBytes is the answer's size, as the sandbox wrote it.
	AnswerBytes int64
	// Elapsed is from the answer's first byte written to the marker
	// stored after the chunk (its record's time in the bucket); Transfer
	// from the first byte to the last.
	Elapsed, Transfer time.Duration
	// IdleRSS is the worker's VmRSS with the call held, before the
	// answer; PeakRSS its VmHWM once the marker is stored.
	IdleRSS, PeakRSS int64
	// Published is the rows the stream stored as new, as the export's
	// state counts them.
	Published int64
}

// Rate is rows decoded and published a second.
func (h historyChunk) Rate() float64 { return float64(h.Rows) / h.Elapsed.Seconds() }

// historyRun runs the worker bin with an export of historyRead whose
// first chunk is a week of about rows rows, and measures that chunk.
func historyRun(ctx context.Context, bin string, rows int) (historyChunk, error) {
	emu, since, want, err := historySandbox(rows)
	if err != nil {
		return historyChunk{}, err
	}
	e, err := newEnvWith(emu)
	if err != nil {
		return historyChunk{}, err
	}
	defer e.Close()
	m := newAnswerMeter()
	hs := httptest.NewServer(m.wrap(e.emu))
	defer func() {
		m.let()
		hs.CloseClientConnections()
		hs.Close()
	}()
	conf := filepath.Join(e.dir, "worker.json")
	b, err := json.Marshal(map[string]any{"exports": []map[string]any{{"op": historyRead, "interval": "1h", "since": since}}})
	if err != nil {
		return historyChunk{}, err
	}
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		return historyChunk{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return historyChunk{}, err
	}
	// A cap of 1 GiB: the week is read in one answer, never halved.
	w, err := startWorkerProcess(ctx, bin, addr, "--nats-url", e.url, "--connect-url", hs.URL+emulator.Path,
		"--connect-user", "admin", "--connect-password", "admin", "--http-listen", addr, "--log-level", "warn",
		"--operations", op, "--local-quota", "--limit", "*="+strconv.Itoa(unlimited), "--shutdown-timeout", "5s",
		"--config", conf, "--export-max-response", "1GiB")
	if err != nil {
		return historyChunk{}, err
	}
	defer w.stop()
	fail := func(err error) (historyChunk, error) {
		return historyChunk{}, fmt.Errorf("%w; worker log: %s", err, w.logs.String())
	}
	h := historyChunk{Rows: want}
	if h.IdleRSS, err = m.idleThenLet(ctx, w, "the export's read"); err != nil {
		return fail(err)
	}
	pid := w.cmd.Process.Pid
	rec, st, err := waitChunk(ctx, e.js, since.Add(historyWeek), 10*time.Minute, w.exited)
	if err != nil {
		return fail(err)
	}
	if _, h.PeakRSS, err = procMemory(pid); err != nil {
		return fail(err)
	}
	first, last, size := m.answer()
	h.AnswerBytes, h.Elapsed, h.Transfer, h.Published = size, rec.Created().Sub(first), last.Sub(first), st.Published
	if st.Rows != int64(want) || st.Published != int64(want) || st.Calls != 1 {
		return fail(fmt.Errorf("the chunk read %d rows in %d calls, published %d; the sandbox generated %d", st.Rows, st.Calls, st.Published, want))
	}
	return h, nil
}

// waitChunk waits until the export's marker is at or after end and
// returns its record and state, or fails after d or when the worker
// exits.
func waitChunk(ctx context.Context, js jetstream.JetStream, end time.Time, d time.Duration, exited <-chan error) (jetstream.KeyValueEntry, export.State, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var kv jetstream.KeyValue
	for {
		var err error
		if kv, err = js.KeyValue(wctx, export.MarkerBucket); err == nil {
			break
		}
		select {
		case err := <-exited:
			return nil, export.State{}, fmt.Errorf("the worker exited: %v", err)
		case <-wctx.Done():
			return nil, export.State{}, fmt.Errorf("no bucket %s within %s: %w", export.MarkerBucket, d, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	w, err := kv.Watch(wctx, historyRead)
	if err != nil {
		return nil, export.State{}, fmt.Errorf("watching the marker: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e := <-w.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st export.State
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				return nil, st, fmt.Errorf("marker %q: %w", e.Value(), err)
			}
			if !st.Marker.Before(end) {
				return e, st, nil
			}
		case err := <-exited:
			return nil, export.State{}, fmt.Errorf("the worker exited: %v", err)
		case <-wctx.Done():
			return nil, export.State{}, fmt.Errorf("the marker did not reach %s within %s", end.Format(time.RFC3339), d)
		}
	}
}

// historyLine is line 15.
func (r *runner) historyLine(ctx context.Context) error {
	dir, bin, err := buildWorker(ctx, r.cfg.Root)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	h, err := historyRun(ctx, bin, r.cfg.ExportRows)
	if err != nil {
		return err
	}
	r.logf("  %d rows in %s (%.0f/s), answer %s, peak RSS %s", h.Rows, h.Elapsed.Round(time.Millisecond), h.Rate(), mib(h.AnswerBytes), mib(h.PeakRSS))
	r.add(Row{Line: "15a", Metric: fmt.Sprintf("history export: one chunk (a week of %s, %s rows) decoded and published row by row (answer's first byte → marker stored)", historyRead, formatCount(float64(h.Rows))),
		Value: fmt.Sprintf("%s rows/s (%s; answer %s, written by the sandbox in %s); %s rows published",
			formatCount(h.Rate()), h.Elapsed.Round(time.Millisecond), mib(h.AnswerBytes), h.Transfer.Round(time.Millisecond), formatCount(float64(h.Published)))})
	r.add(Row{Line: "15b", Metric: fmt.Sprintf("worker process RSS through that chunk (answer %s)", mib(h.AnswerBytes)),
		Value:  fmt.Sprintf("peak (VmHWM) %s, idle %s (before the answer)", mib(h.PeakRSS), mib(h.IdleRSS)),
		Target: "≤ 300 MB", Met: met(h.PeakRSS <= targetRSS)})
	r.note("15", "Line 15: the sandbox's generated history (--seed-history) with its average of events a day set so that the week [since, since + 7 days) of %s holds about %s rows, %s here (one sandbox counts the week at a guess, a second scales the average; the count is exact, from emulator.History); the real worker binary as a child process with one export of that read (config file: since, interval 1h, the read's chunk of 7 days), --export-max-response 1GiB so that the week is one answer (the default 64 MiB would halve it), serving ClientUserEdit only, local quota with limits off. As line 14, the harness holds the call before the sandbox, reads the idle VmRSS, lets it through, and times from the answer's first byte to the marker's record in CONNECT_EXPORTS (stored after the stream acknowledged every row: 256 rows published before their acknowledgements are awaited); the export's stored state must count every generated row read and published in one call. Each row is a message of its own (JSON, its Nats-Msg-Id the row's ServiceCallID), so the rate is bounded by the broker's stored publishes as much as by decoding. Peak is VmHWM at the end.",
		historyRead, formatCount(float64(r.cfg.ExportRows)), formatCount(float64(h.Rows)))
	return nil
}
