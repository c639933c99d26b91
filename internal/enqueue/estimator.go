package enqueue

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// estimator keeps, across the reads of the quota ledger, what an
// estimate of a run needs beyond the commands left: the calls the
// ledger granted since the run began, the calls whose results came, and
// the packets seen. The decision itself is forecast's.
type estimator struct {
	reader      *quota.Reader
	rows        map[string]int // the packet size by operation, as configured
	callTimeSet time.Duration  // the call spacing configured; 0: measured
	now         func() time.Time
	note        func(format string, args ...any)

	mu     sync.Mutex // protects ops, warned, failed, retryAt
	ops    map[string]*opTrack
	warned bool // that the ledger cannot be read was noted
	// failed is the last read's error, and retryAt when to read again:
	// a ledger that failed is not asked for a while, so that a NATS user
	// not allowed to read it (whose requests are never answered) does not
	// hold every estimate, nor the publishing, for a timeout.
	failed  error
	retryAt time.Time
}

// ledgerTimeout bounds one read of the ledger: a healthy one answers in
// milliseconds. ledgerRetry is how long a ledger that failed is not read.
const (
	ledgerTimeout = time.Second
	ledgerRetry   = 30 * time.Second
)

// opTrack is what the estimator knows of one operation of the run.
type opTrack struct {
	// known: the operation has a quota. An operation outside the
	// catalogue is answered UNKNOWN_OPERATION without a call.
	known bool
	// base is the ledger when the run first read it for the operation:
	// the calls of its window before that are not the run's. based
	// reports whether it was read.
	base  quota.Status
	based bool
	// last is the last read of the ledger.
	last quota.Status
	// granted counts the calls the ledger granted since base, window
	// after window: the run's calls (and any other producer's of the same
	// operation, which the ledger cannot tell apart).
	granted int
	// answered holds the calls (batch ids) that carried a result of the
	// run; bounded by the run's commands.
	answered map[string]struct{}
	// maxRows is the largest packet a result of the run came in.
	maxRows int
	// lastAnswer is when the latest call's first result came; gaps are
	// the last times (at most maxGaps, oldest first) between the first
	// results of consecutive calls in one window: how far apart the
	// workers make their calls.
	lastAnswer time.Time
	gaps       []time.Duration
	// lastBatch is the call answered last, and lastLeft its rows whose
	// results have not come yet: they need no call. (A call's results
	// come together; only the last one is followed.)
	lastBatch string
	lastLeft  int
	// granting is when the first call was granted, as far as reads tell:
	// midway between the last read that saw none and the first that saw
	// one. latency is the time from then to the first answer: a first
	// measure of a call, within half a read period.
	granting time.Time
	latency  time.Duration
	// readAt is when the ledger was last read for the operation.
	readAt time.Time
}

// maxGaps is how many call spacings are kept per operation.
const maxGaps = 16

// newEstimator returns an estimator reading the ledger through r.
func newEstimator(r *quota.Reader, rows map[string]int, callTime time.Duration, now func() time.Time, note func(string, ...any)) *estimator {
	return &estimator{reader: r, rows: rows, callTimeSet: callTime, now: now, note: note, ops: map[string]*opTrack{}}
}

// addOp starts tracking op, reading its ledger before the run's first
// command of op is published, so that calls made before it are not
// counted as the run's.
func (e *estimator) addOp(ctx context.Context, op string) {
	now := e.now()
	_, err := e.reader.Limit(op, now)
	t := &opTrack{known: err == nil, answered: map[string]struct{}{}}
	e.mu.Lock()
	if _, ok := e.ops[op]; ok {
		e.mu.Unlock()
		return
	}
	e.ops[op] = t
	e.mu.Unlock()
	if !t.known {
		return
	}
	st, err := e.read(ctx, []string{op}, now)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !t.based {
		t.base, t.last, t.based, t.readAt = st[0], st[0], true, now
	}
}

// observe records a result of the run for a command of op: its call has
// been answered. The run calls it holding its own lock (see answers).
// The result's own fields are the worker's word: its rows are bounded by
// the catalogue's packet size, and op is the command's, not the result's.
func (e *estimator) observe(op string, res contract.Result) {
	if res.Batch == "" {
		return // never sent: no call
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.ops[op]
	if t == nil {
		return
	}
	rows := max(res.Rows, 0)
	if o, ok := catalog.Lookup(op); ok {
		rows = min(rows, o.MaxRows)
	}
	t.maxRows = max(t.maxRows, rows)
	if _, ok := t.answered[res.Batch]; ok {
		if res.Batch == t.lastBatch && t.lastLeft > 0 {
			t.lastLeft--
		}
		return
	}
	t.answered[res.Batch] = struct{}{}
	t.lastBatch, t.lastLeft = res.Batch, max(rows-1, 0)
	now, w := e.now(), e.reader.Windows()
	if len(t.answered) == 1 && !t.granting.IsZero() && now.After(t.granting) {
		t.latency = now.Sub(t.granting)
	}
	// Calls of one window go one after another: the time between their
	// answers is their spacing. Across windows it is the wait for the
	// next window, not a spacing.
	if !t.lastAnswer.IsZero() && w.Start(now).Equal(w.Start(t.lastAnswer)) {
		if len(t.gaps) == maxGaps {
			t.gaps = t.gaps[1:]
		}
		t.gaps = append(t.gaps, now.Sub(t.lastAnswer))
	}
	t.lastAnswer = now
}

// settledGaps is how many spacings make a measured call time settled
// (see Demand.CallTimeSettled).
const settledGaps = 8

// callTime is the spacing of op's calls, and whether it is settled: as
// configured (settled), else the median of the spacings seen (robust to
// a call that waited for its packet; settled from settledGaps on), else
// the first call's latency, else 0.
func (e *estimator) callTime(t *opTrack) (time.Duration, bool) {
	switch {
	case e.callTimeSet > 0:
		return e.callTimeSet, true
	case len(t.gaps) > 0:
		g := slices.Sorted(slices.Values(t.gaps))
		return g[len(g)/2], len(g) >= settledGaps
	}
	return t.latency, false
}

// read reads the ledger of ops in the window holding at, within
// ledgerTimeout, unless it failed less than ledgerRetry ago. The first
// failure is noted; the estimate then goes on without the ledger.
func (e *estimator) read(ctx context.Context, ops []string, at time.Time) ([]quota.Status, error) {
	now := e.now()
	e.mu.Lock()
	if e.failed != nil && now.Before(e.retryAt) {
		err := e.failed
		e.mu.Unlock()
		return nil, err
	}
	e.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
	st, err := e.reader.Status(rctx, ops, at)
	cancel()
	if ctx.Err() != nil {
		return nil, ctx.Err() // the run is over, not the ledger
	}
	e.mu.Lock()
	e.failed, e.retryAt = err, now.Add(ledgerRetry)
	warn := err != nil && !e.warned
	e.warned = e.warned || err != nil
	e.mu.Unlock()
	if warn {
		what := "cannot read the quota ledger"
		if errors.Is(err, quota.ErrNoLedger) {
			what = "no shared quota ledger (workers with --local-quota, or none started yet)"
		}
		e.note("estimate: %s: %v; assuming this window's calls unused", what, err)
	}
	return st, err
}

// backlog is one operation's commands of a run still without a result,
// and its calls answered, taken at one moment (see answers).
type backlog struct {
	// waiting have been published; coming are still to be, at arrival
	// commands a second.
	waiting, coming int
	arrival         float64
	// answered is the calls of the run answered; partial the rows of the
	// last one whose results are still coming.
	answered, partial int
}

// answers returns op's calls answered and the rows of the last one still
// to come. The run calls it holding its own lock, under which results are
// also observed, so that both agree with its count of commands waiting.
func (e *estimator) answers(op string) (answered, partial int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.ops[op]; t != nil {
		return len(t.answered), t.lastLeft
	}
	return 0, 0
}

// estimate reads the ledger and estimates the run, whose commands still
// without a result are left, by operation.
func (e *estimator) estimate(ctx context.Context, left map[string]backlog) Estimate {
	now := e.now()
	w := e.reader.Windows()
	e.mu.Lock()
	var ops []string
	moved := map[time.Time][]string{} // window last read → its operations
	for _, op := range slices.Sorted(maps.Keys(e.ops)) {
		t := e.ops[op]
		if !t.known {
			continue
		}
		ops = append(ops, op)
		if start := t.last.Reset.Add(-w.Length); t.based && !start.Equal(w.Start(now)) {
			moved[start] = append(moved[start], op)
		}
	}
	e.mu.Unlock()

	ledger := false
	if len(ops) > 0 {
		// The rest of the window last read first: calls made there
		// since are the run's too.
		var tail []quota.Status
		for start, ops := range moved {
			st, _ := e.read(ctx, ops, start)
			tail = append(tail, st...)
		}
		cur, err := e.read(ctx, ops, now)
		ledger = err == nil
		e.mu.Lock()
		for _, st := range tail {
			e.ops[st.Op].update(st)
		}
		for _, st := range cur {
			t := e.ops[st.Op]
			t.update(st)
			t.readDone(now)
		}
		e.mu.Unlock()
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	in := forecastInput{now: now, windows: w, ledger: ledger,
		limit: func(op string, start time.Time) int {
			n, _ := e.reader.Limit(op, start)
			return n
		}}
	for _, op := range ops {
		t := e.ops[op]
		in.started = in.started || left[op].answered > 0
		rows := e.packetRows(op, t)
		b := left[op]
		d := Demand{Op: op, Rows: rows, Coming: b.coming, Arrival: b.arrival}
		d.CallTime, d.CallTimeSettled = e.callTime(t)
		if ledger {
			d.Ledger = t.last
			d.InFlight = t.inFlight(b.answered)
		}
		// The commands of the calls in flight, and those of the last
		// call answered whose results are still coming, are published
		// and waiting for results, but need no call.
		d.Ready = max(0, b.waiting-d.InFlight*rows-b.partial)
		if d.Ready+d.Coming > 0 || d.InFlight > 0 {
			in.ops = append(in.ops, d)
		}
	}
	return forecast(in)
}

// packetRows is how many of the run's commands of op one call carries:
// the configured size, else the catalogue's; or the largest packet seen,
// when larger (the size configured was wrong). A smaller packet seen
// says nothing: the worker sends what it has when its backlog is short,
// as it is while a file is still being published.
func (e *estimator) packetRows(op string, t *opTrack) int {
	n, ok := e.rows[op]
	if !ok {
		n = e.rows["*"]
	}
	if o, ok := catalog.Lookup(op); ok && n <= 0 {
		n = o.MaxRows
	}
	return max(n, t.maxRows, 1)
}

// readDone notes a read of the ledger made at now, once update has
// counted what it saw.
func (t *opTrack) readDone(now time.Time) {
	if t.granted > 0 && t.granting.IsZero() {
		t.granting = now
		if !t.readAt.IsZero() && now.After(t.readAt) {
			t.granting = t.readAt.Add(now.Sub(t.readAt) / 2)
		}
	}
	t.readAt = now
}

// update counts the calls granted since the last read: st is of the
// window last read (more calls in it) or of a later one (all its calls
// are new).
func (t *opTrack) update(st quota.Status) {
	switch {
	case !t.based:
		t.base, t.last, t.based = st, st, true
	case st.Reset.Equal(t.last.Reset):
		t.granted += max(0, st.Used-t.last.Used)
	case st.Reset.After(t.last.Reset):
		t.granted += st.Used
	default:
		return // an older window: nothing new
	}
	t.last = st
}

// inFlight estimates the calls granted whose results have not come: the
// calls granted less those answered, at most the run's calls of the
// current window (a call of an earlier window that failed is answered
// by a later one, or never).
func (t *opTrack) inFlight(answered int) int {
	ours := t.last.Used
	if t.base.Reset.Equal(t.last.Reset) {
		ours -= t.base.Used
	}
	return max(0, min(ours, t.granted-answered))
}
