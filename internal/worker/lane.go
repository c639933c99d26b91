package worker

import (
	"context"
	"go.opentelemetry.io/otel/trace"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/retry"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// commandSource is where a lane fetches its commands: the operation's
// durable consumer, or a fake in tests.
type commandSource interface {
	Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error)
}

// resultSink records, publishes and acknowledges final results, batch by
// batch, and hands each finished batch's entries back on done; it returns
// once in is closed and every batch is done. The finisher is the one used;
// tests use a fake.
type resultSink interface {
	run(in <-chan []*final, done chan<- []*entry)
}

// lane serves one operation: it fetches the operation's commands, packs
// them, calls the API and hands results to its sink. Goroutines: the
// fetcher (fetch.go), the loop (this file), which alone owns the batcher
// and the lane's state, the sink, and one per call in flight
// (dispatch.go). What a call's outcome means is decided in outcome.go,
// when to hold a packet back in hold.go.
type lane struct {
	w     *Worker
	op    *catalog.Operation
	set   OpSettings
	src   commandSource
	sink  resultSink
	clock clock.Clock
	log   zerolog.Logger

	in    chan []*entry    // fetcher → loop: valid new commands, in stream order
	calls chan callOutcome // call goroutines → loop
	fin   chan []*final    // loop and fetcher → sink: final results
	done  chan []*entry    // sink → loop: acknowledged commands
	cap   *capacity        // slots and bytes the commands held take
	depth atomic.Int64     // commands held, for the metrics
	pause atomic.Bool      // set by the loop: the fetcher waits
	wake  chan struct{}    // loop → fetcher: pause lifted

	// Owned by the loop goroutine.
	b         *batcher.Batcher[*entry]
	held      map[uint64]*entry // every command held, by stream sequence
	recent    recentSet         // sequences of commands recently finished
	inflight  int
	finals    []*final // results waiting to be handed to the sink
	bo        *retry.Backoff
	notBefore time.Time // no call before this (backoff, quota)
	// grant is the last grant of the quota: what is left of the window.
	grant quota.Grant
	// pending is how many commands the stream held behind the last one
	// fetched: with what the lane holds, the backlog.
	pending uint64
	// quotaWait is when a ready packet started waiting for the quota.
	quotaWait time.Time
	// cautious is until when calls go one at a time (after OUT_OF_LIMIT).
	cautious time.Time
	// arrived counts arrivals for the holding-back rule; holdingSince is
	// when the lane began holding partial packets back (zero: it is not),
	// holdUntil until when at the latest.
	arrived      arrivals
	holdingSince time.Time
	holdUntil    time.Time
}

// callOutcome is what one call came back with.
type callOutcome struct {
	p       batcher.Packet[*entry]
	batch   string
	resp    *soap.Response
	err     error
	latency time.Duration
	// lost are the commands taken out of the packet before the call:
	// another delivery of each was being sent already (see markSent).
	lost []batcher.Item[*entry]
	// refused are the commands taken out before the call for a reference
	// to a stored object that failed its check (see objects.go).
	refused []refusal // trace is the call's span, for the log.
	trace   trace.SpanContext
}

func newLane(w *Worker, op *catalog.Operation, set OpSettings) (*lane, error) {
	// Edits of one object collapse (see OpSettings.Collapse); only edits
	// safe to send again do, so a collapsed row never needs the "sent"
	// records of calls that are not.
	collapse := *set.Collapse && op.Edits() && op.Repeatable
	b, err := batcher.New[*entry](batcher.Config{MaxRows: set.MaxRows, MaxWait: time.Duration(set.MaxWait), Collapse: collapse})
	if err != nil {
		return nil, err
	}
	bo, err := retry.NewBackoff(retry.Policy{Initial: w.cfg.BackoffInitial, Max: w.cfg.BackoffMax, Multiplier: 1.5, Jitter: 0.5})
	if err != nil {
		return nil, err
	}
	l := &lane{
		w:     w,
		op:    op,
		set:   set,
		clock: w.clock,
		log:   w.log.With().Str("op", op.Name).Logger(),
		in:    make(chan []*entry),
		calls: make(chan callOutcome, set.Concurrency),
		fin:   make(chan []*final, 16),
		done:  make(chan []*entry, 16),
		wake:  make(chan struct{}, 1),
		cap:   newCapacity(set.MaxPending, newBudget(w.cfg.LaneBytes, w.bytes)),
		b:     b,
		held:  map[uint64]*entry{},
		bo:    bo,
	}
	l.recent.init(4 * set.MaxPending)
	l.sink = &finisher{w: w, lane: op.Name}
	return l, nil
}

// run runs the lane until ctx ends, then shuts it down within the
// worker's shutdown timeout.
func (l *lane) run(ctx context.Context) {
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		l.fetch(ctx)
	}()
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		l.sink.run(l.fin, l.done)
	}()

	keepalive := l.clock.NewTicker(max(l.w.cfg.AckWait/3, 10*time.Millisecond))
	defer keepalive.Stop()
	timer := l.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.dispatch(ctx)
		l.arm(timer)
		var toSink chan<- []*final
		if len(l.finals) > 0 {
			toSink = l.fin
		}
		select {
		case es := <-l.in:
			l.accept(es)
		case out := <-l.calls:
			l.flight(-1)
			l.handle(ctx, out)
		case es := <-l.done:
			l.release(es)
		case toSink <- l.finals:
			l.finals = nil
		case <-keepalive.C():
			l.progress()
		case <-timer.C():
		case <-ctx.Done():
			l.shutdown(fetchDone, keepalive)
			close(l.fin)
			for {
				select {
				case es := <-l.done:
					l.release(es)
				case <-sinkDone:
					return
				}
			}
		}
	}
}

// accept takes new commands into the batcher. A second delivery of a
// command the lane holds or has just finished (its ack wait ran out while
// it was being fetched, say) is dropped: the first is acknowledged for
// both, by stream sequence.
func (l *lane) accept(es []*entry) {
	now := l.clock.Now()
	for _, e := range es {
		if _, dup := l.held[e.seq]; dup || l.recent.has(e.seq) {
			l.cap.release(e)
			continue
		}
		l.held[e.seq] = e
		l.b.Add(batcher.Item[*entry]{Key: e.key, Shape: e.shape, Arrived: e.arrived, Value: e})
		l.pending = e.pending
	}
	l.depth.Store(int64(len(l.held)))
	l.arrived.add(now, len(es), l.window())
	l.w.met.received.WithLabelValues(l.op.Name).Add(float64(len(es)))
}

// release forgets acknowledged commands: their keys let the next command
// of the object go, their slots and bytes let the fetcher take more.
func (l *lane) release(es []*entry) {
	for _, e := range es {
		if _, ok := l.held[e.seq]; ok {
			delete(l.held, e.seq)
			l.b.Done(e.key)
		}
		l.recent.add(e.seq)
		l.cap.release(e)
	}
	l.depth.Store(int64(len(l.held)))
}

// progress tells the server that every command held is being worked on,
// so none is redelivered while it waits for its packet, its quota or its
// call.
func (l *lane) progress() {
	for _, e := range l.held {
		_ = e.msg.InProgress()
	}
}

// arm sets the timer to the next moment the loop has something to do.
func (l *lane) arm(timer clock.Timer) {
	now := l.clock.Now()
	d, ok := l.b.UntilNext(now)
	if !ok {
		d = time.Hour
	}
	if until := l.holdUntil.Sub(now); d == 0 && until > 0 {
		// Partial packets are held back: nothing to do before more
		// commands come (which wakes the loop) or the hold ends.
		d = until
	}
	if wait := l.notBefore.Sub(now); wait > d && l.b.Len() > 0 {
		d = wait
	}
	if until := l.w.auth.until(); !until.IsZero() && l.b.Len() > 0 {
		d = max(d, until.Sub(now))
	}
	if !timer.Stop() {
		select {
		case <-timer.C():
		default:
		}
	}
	timer.Reset(max(d, time.Millisecond))
}

// window is the length of the quota's windows, as the last grant said;
// an hour until one came.
func (l *lane) window() time.Duration {
	if d := l.grant.Reset.Sub(l.grant.Start); d > 0 {
		return d
	}
	return time.Hour
}

// shutdown stops the lane. The fetcher's last fetch runs out (commands it
// brings are kept aside); calls in flight are finished and their results
// recorded; then, with no pull request of this worker left on the server,
// every command not finished is handed back (negatively acknowledged, so
// another replica takes it at once), those queued first and those held
// behind an object's previous command last, so an object's commands keep
// their order.
func (l *lane) shutdown(fetchDone <-chan struct{}, keepalive clock.Ticker) {
	deadline := l.clock.NewTimer(l.w.cfg.ShutdownTimeout)
	defer deadline.Stop()
	var late []*entry // fetched during shutdown, never queued
	fetching := true
	for fetching || l.inflight > 0 || len(l.finals) > 0 {
		var toSink chan<- []*final
		if len(l.finals) > 0 {
			toSink = l.fin
		}
		select {
		case es := <-l.in:
			late = append(late, es...)
		case <-fetchDone:
			fetchDone, fetching = nil, false
		case out := <-l.calls:
			l.flight(-1)
			l.handle(context.Background(), out)
		case toSink <- l.finals:
			l.finals = nil
		case es := <-l.done:
			l.release(es)
		case <-keepalive.C():
			l.progress()
		case <-deadline.C():
			l.log.Warn().Int("calls_in_flight", l.inflight).Msg("shutdown timeout: leaving calls unfinished; their commands are redelivered after the ack wait")
			fetching, l.finals = false, nil
			l.flight(-l.inflight)
		}
	}
	for _, e := range late {
		l.handBack(e, 0)
	}
	for _, p := range l.b.Flush() {
		for _, it := range p.Items {
			for _, c := range it.Collapsed {
				l.handBack(c.Value, 0) // the earlier commands of a row first
			}
			l.handBack(it.Value, 0)
		}
	}
	// What is still held and not with the sink waited behind a call that
	// has now ended.
	for _, e := range l.held {
		if !e.finishing {
			l.handBack(e, 0)
		}
	}
}

// handBack gives a command back to the server for redelivery, after
// delay (0: at once).
func (l *lane) handBack(e *entry, delay time.Duration) {
	delete(l.held, e.seq)
	l.cap.release(e)
	l.depth.Store(int64(len(l.held)))
	var err error
	if delay > 0 {
		err = e.msg.NakWithDelay(delay)
	} else {
		err = e.msg.Nak()
	}
	if err != nil {
		l.log.Debug().Err(err).Msg("hand back failed; the command is redelivered after the ack wait")
	}
}

// lostRace gives back a command whose "sent" record another delivery of
// it wrote first: that delivery's call decides its result. It comes back
// after the call timeout, and is then answered from the record.
func (l *lane) lostRace(e *entry) {
	l.log.Warn().Str("id", e.cmd.ID).Uint64("stream_seq", e.seq).Msg("another delivery of this command is being sent; answering it from that call's outcome later")
	l.b.Done(e.key)
	l.handBack(e, time.Duration(l.set.CallTimeout)+natsTimeout)
}

// flight counts calls in flight up or down, and shows it.
func (l *lane) flight(delta int) {
	l.inflight += delta
	l.w.met.inFlight.WithLabelValues(l.op.Name).Set(float64(l.inflight))
}
