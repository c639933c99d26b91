package benchrun

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
)

// Line 14: a feed's first poll of a large directory, the backfill: one
// answer of every client user, decoded, published and mirrored by the
// real worker binary, and the memory that takes.

// answerMeter stands before the sandbox: it holds the first SOAP call
// until released, so that the worker's memory can be read before the
// answer comes, then times and counts that call's answer as the sandbox
// writes it. Other calls pass untouched.
type answerMeter struct {
	calls   atomic.Int64
	arrived chan struct{} // closed when the first call reaches the sandbox
	release chan struct{} // closed to let it through
	open    sync.Once     // closes release

	mu          sync.Mutex // protects first, last, bytes
	first, last time.Time  // the first and last write of the answer
	bytes       int64
}

func newAnswerMeter() *answerMeter {
	return &answerMeter{arrived: make(chan struct{}), release: make(chan struct{})}
}

// let lets the held call through; later calls are not held.
func (m *answerMeter) let() { m.open.Do(func() { close(m.release) }) }

// idleThenLet waits until the worker w's read (what, for errors) reaches
// the sandbox and is held there, reads the worker's idle VmRSS, and lets
// the read through.
func (m *answerMeter) idleThenLet(ctx context.Context, w *child, what string) (int64, error) {
	select {
	case <-m.arrived:
	case err := <-w.exited:
		return 0, fmt.Errorf("the worker exited: %v", err)
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("%s did not reach the sandbox within 30s", what)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	idle, _, err := procMemory(w.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	m.let()
	return idle, nil
}

func (m *answerMeter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != emulator.Path || m.calls.Add(1) != 1 {
			h.ServeHTTP(w, r)
			return
		}
		close(m.arrived)
		select {
		case <-m.release:
		case <-r.Context().Done():
			return
		}
		h.ServeHTTP(&meteredWriter{ResponseWriter: w, m: m}, r)
	})
}

// answer returns the answer's first and last write and its size.
func (m *answerMeter) answer() (first, last time.Time, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.first, m.last, m.bytes
}

// meteredWriter times and counts the body written through it.
type meteredWriter struct {
	http.ResponseWriter
	m *answerMeter
}

func (w *meteredWriter) Write(p []byte) (int, error) {
	w.m.mu.Lock()
	if w.m.first.IsZero() {
		w.m.first = time.Now()
	}
	w.m.mu.Unlock()
	n, err := w.ResponseWriter.Write(p)
	w.m.mu.Lock()
	w.m.bytes += int64(n)
	w.m.last = time.Now()
	w.m.mu.Unlock()
	return n, err
}

// backfill is the line-14 measurement.
type backfill struct {
	Objects int
	// AnswerBytes is the answer's size, as the sandbox wrote it.
	AnswerBytes int64
	// Elapsed is from the answer's first byte written to the marker
	// stored (its record's time in the bucket); Transfer from the first
	// byte to the last, which the worker's reading paces.
	Elapsed, Transfer time.Duration
	// IdleRSS is the worker's VmRSS with the call held, before the
	// answer; PeakRSS its VmHWM once the marker is stored.
	IdleRSS, PeakRSS int64
	// Events and Mirrored are the messages of CONNECT_CHANGES and of the
	// mirror's stream at the end.
	Events, Mirrored uint64
}

// Rate is objects decoded, published and mirrored a second.
func (b backfill) Rate() float64 { return float64(b.Objects) / b.Elapsed.Seconds() }

// backfillRun seeds n client users and runs the worker bin with a feed
// of them, whose first poll reads them all in one answer.
func backfillRun(ctx context.Context, bin string, n int) (backfill, error) {
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return backfill{}, err
	}
	defer e.Close()
	if _, err := e.emu.SeedObjects("ClientUser", n); err != nil {
		return backfill{}, err
	}
	m := newAnswerMeter()
	hs := httptest.NewServer(m.wrap(e.emu))
	defer func() {
		m.let()
		hs.CloseClientConnections()
		hs.Close()
	}()
	// An interval of an hour: the backfill is the only poll.
	w, err := startFeedWorker(ctx, e, bin, hs.URL+emulator.Path, time.Hour)
	if err != nil {
		return backfill{}, err
	}
	defer w.stop()
	fail := func(err error) (backfill, error) {
		return backfill{}, fmt.Errorf("%w; worker log: %s", err, w.logs.String())
	}
	b := backfill{Objects: n}
	if b.IdleRSS, err = m.idleThenLet(ctx, w, "the feed's read"); err != nil {
		return fail(err)
	}
	pid := w.cmd.Process.Pid
	marker, err := waitMarker(ctx, e.js, 0, 10*time.Minute, w.exited)
	if err != nil {
		return fail(err)
	}
	if _, b.PeakRSS, err = procMemory(pid); err != nil {
		return fail(err)
	}
	first, last, size := m.answer()
	b.AnswerBytes, b.Elapsed, b.Transfer = size, marker.Created().Sub(first), last.Sub(first)
	if b.Events, err = streamMsgs(ctx, e.js, feed.ChangeStream); err != nil {
		return fail(err)
	}
	if b.Mirrored, err = streamMsgs(ctx, e.js, "KV_"+feed.MirrorBucket); err != nil {
		return fail(err)
	}
	if b.Events != uint64(n) || b.Mirrored != uint64(n) {
		return fail(fmt.Errorf("%d events and %d mirror records for %d client users", b.Events, b.Mirrored, n))
	}
	return b, nil
}

// backfillLine is line 14.
func (r *runner) backfillLine(ctx context.Context) error {
	dir, bin, err := buildWorker(ctx, r.cfg.Root)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := backfillRun(ctx, bin, r.cfg.BackfillObjects)
	if err != nil {
		return err
	}
	r.logf("  %d objects in %s (%.0f/s), answer %s, peak RSS %s", b.Objects, b.Elapsed.Round(time.Millisecond), b.Rate(), mib(b.AnswerBytes), mib(b.PeakRSS))
	r.add(Row{Line: "14a", Metric: fmt.Sprintf("feed backfill: one answer of %s client users decoded, published and mirrored (answer's first byte → marker stored)", formatCount(float64(b.Objects))),
		Value: fmt.Sprintf("%s objects/s (%s; answer %s, written by the sandbox in %s); %s events, %s mirror records",
			formatCount(b.Rate()), b.Elapsed.Round(time.Millisecond), mib(b.AnswerBytes), b.Transfer.Round(time.Millisecond),
			formatCount(float64(b.Events)), formatCount(float64(b.Mirrored)))})
	r.add(Row{Line: "14b", Metric: fmt.Sprintf("worker process RSS through that backfill (answer %s)", mib(b.AnswerBytes)),
		Value:  fmt.Sprintf("peak (VmHWM) %s, idle %s (before the answer)", mib(b.PeakRSS), mib(b.IdleRSS)),
		Target: "≤ 300 MB", Met: met(b.PeakRSS <= targetRSS)})
	r.note("14", "Line 14: %s client users seeded in the sandbox (SeedObjects); the real worker binary (`go build ./cmd/worker`) as a child process with --feed %s=1h (no marker: the first poll reads every object, one answer), default chunk (256 rows looked up, published and mirrored at a time) and response cap (1 GiB), serving ClientUserEdit only (no command is sent; line 7 serves every operation, hence its higher idle RSS), local quota with limits off. The harness holds the read before the sandbox until it has read the worker's idle VmRSS, then lets it through and times from the answer's first byte (the sandbox writes rows as it encodes them, in this process) to the marker's record in CONNECT_FEEDS (the bucket's timestamp, stored after every event); the rate is the objects over that time. The worker decodes rows as they arrive and stops reading while it publishes and mirrors each chunk, so the sandbox's writing (first byte to last) ends when what is left of the answer fits in the loopback connection's buffers, before the worker is done. Peak is VmHWM from /proc/<pid>/status at the end; the feed's memory is bounded by the chunk in hand, not the answer's size.",
		formatCount(float64(b.Objects)), feedRead)
	return nil
}
