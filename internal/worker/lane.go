package worker

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// lane serves one operation: it fetches the operation's commands from its
// consumer, packs them, calls the API and hands results to its finisher.
// Three goroutines: the fetcher, the lane loop (which alone owns the
// batcher and the lane's state), and the finisher; plus one goroutine per
// call in flight.
type lane struct {
	w    *Worker
	op   *catalog.Operation
	set  OpSettings
	cons jetstream.Consumer
	log  zerolog.Logger
	fin  *finisher

	in    chan []*entry    // fetcher → loop: valid new commands, in stream order
	calls chan callOutcome // call goroutines → loop
	done  chan []*entry    // finisher → loop: acknowledged commands
	slots chan struct{}    // one token per command held, MaxPending in all
	bytes *budget          // what the commands held may take in memory
	depth atomic.Int64     // commands held, for the metrics
	pause atomic.Bool      // set by the loop: the fetcher waits
	wake  chan struct{}    // loop → fetcher: pause lifted

	// Owned by the loop goroutine.
	b         *batcher.Batcher[*entry]
	held      map[uint64]*entry // every command held, by stream sequence
	recent    recentSet         // sequences of commands recently finished
	inflight  int
	finals    []*final // results waiting to be handed to the finisher
	bo        *backoff.ExponentialBackOff
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
	// arrivals measures how fast commands come in; patientUntil is until
	// when partial packets are held back (see minRows).
	arrivals     rateMeter
	patientUntil time.Time
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
}

func newLane(w *Worker, op *catalog.Operation, set OpSettings) (*lane, error) {
	b, err := batcher.New[*entry](batcher.Config{MaxRows: set.MaxRows, MaxWait: time.Duration(set.MaxWait)})
	if err != nil {
		return nil, err
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = w.cfg.BackoffInitial, w.cfg.BackoffMax, 0
	bo.Reset()
	l := &lane{
		w:     w,
		op:    op,
		set:   set,
		log:   w.log.With().Str("op", op.Name).Logger(),
		in:    make(chan []*entry),
		calls: make(chan callOutcome, set.Concurrency),
		done:  make(chan []*entry, 16),
		slots: make(chan struct{}, set.MaxPending),
		wake:  make(chan struct{}, 1),
		bytes: newBudget(w.cfg.LaneBytes, w.bytes),
		b:     b,
		held:  map[uint64]*entry{},
		bo:    bo,
	}
	l.recent.init(4 * set.MaxPending)
	l.fin = &finisher{w: w, lane: op.Name, in: make(chan []*final, 16), done: l.done}
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
	finDone := make(chan struct{})
	go func() {
		defer close(finDone)
		l.fin.run()
	}()

	keepalive := time.NewTicker(max(l.w.cfg.AckWait/3, 10*time.Millisecond))
	defer keepalive.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.dispatch(ctx)
		l.arm(timer)
		var toFinisher chan<- []*final
		if len(l.finals) > 0 {
			toFinisher = l.fin.in
		}
		select {
		case es := <-l.in:
			l.accept(es)
		case out := <-l.calls:
			l.inflight--
			l.handle(ctx, out)
		case es := <-l.done:
			l.release(es)
		case toFinisher <- l.finals:
			l.finals = nil
		case <-keepalive.C:
			l.progress()
		case <-timer.C:
		case <-ctx.Done():
			l.shutdown(fetchDone, keepalive)
			close(l.fin.in)
			for {
				select {
				case es := <-l.done:
					l.release(es)
				case <-finDone:
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
	for _, e := range es {
		if _, dup := l.held[e.seq]; dup || l.recent.has(e.seq) {
			// Acknowledged with the first delivery; the second one's
			// message is dropped.
			l.bytes.release(e.cost)
			<-l.slots
			continue
		}
		l.held[e.seq] = e
		l.b.Add(batcher.Item[*entry]{Key: e.key, Shape: e.shape, Arrived: e.arrived, Value: e})
		l.pending = e.pending
	}
	l.depth.Store(int64(len(l.held)))
	l.arrivals.add(l.w.now(), len(es))
	l.w.met.received.WithLabelValues(l.op.Name).Add(float64(len(es)))
}

// release forgets acknowledged commands: their keys let the next command
// of the object go, their slots let the fetcher take more.
func (l *lane) release(es []*entry) {
	for _, e := range es {
		if _, ok := l.held[e.seq]; ok {
			delete(l.held, e.seq)
			l.b.Done(e.key)
		}
		l.recent.add(e.seq)
		l.bytes.release(e.cost)
		<-l.slots
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
func (l *lane) arm(timer *time.Timer) {
	now := l.w.now()
	d, ok := l.b.UntilNext(now)
	if !ok {
		d = time.Hour
	}
	if until := l.patientUntil.Sub(now); d == 0 && until > 0 {
		// Partial packets are held back: nothing to do before more
		// commands come (which wakes the loop) or the window nears its end.
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
		case <-timer.C:
		default:
		}
	}
	timer.Reset(max(d, time.Millisecond))
}

// dispatch starts calls while it may: a free call slot, no backoff, the
// API not refusing the credentials, a packet ready, and the quota
// granting a call.
func (l *lane) dispatch(ctx context.Context) {
	defer l.updatePause()
	for {
		now := l.w.now()
		if l.inflight >= l.concurrency(now) {
			return
		}
		if now.Before(l.notBefore) || !l.w.auth.allow(now) {
			return
		}
		p, ok := l.b.Next(now, l.minRows(now))
		if !ok {
			return
		}
		g, err := l.w.limiter.Take(ctx, l.op.Name, now)
		l.w.quotaState(err)
		if err != nil {
			l.b.Return(p)
			l.notBefore = now.Add(time.Second)
			l.log.Warn().Err(err).Msg("quota unavailable: no call made")
			return
		}
		l.w.met.observeGrant(l.op.Name, g)
		if !g.OK {
			l.b.Return(p)
			l.notBefore = g.RetryAt
			if l.quotaWait.IsZero() {
				l.quotaWait = now
			}
			return
		}
		l.grant = g
		if !l.quotaWait.IsZero() {
			l.w.met.quotaWait.WithLabelValues(l.op.Name).Add(now.Sub(l.quotaWait).Seconds())
			l.quotaWait = time.Time{}
		}
		l.inflight++
		oldest := now
		for _, it := range p.Items {
			it.Value.calls++
			if it.Arrived.Before(oldest) {
				oldest = it.Arrived
			}
		}
		l.w.met.rows.WithLabelValues(l.op.Name).Observe(float64(len(p.Items)))
		l.w.met.wait.WithLabelValues(l.op.Name).Observe(now.Sub(oldest).Seconds())
		go l.call(p)
	}
}

// concurrency is how many calls may be in flight now: the setting, or one
// for the rest of a window that saw OUT_OF_LIMIT and the next: then
// another client shares the account's limit, and a second call in flight
// would only earn a second refusal.
func (l *lane) concurrency(now time.Time) int {
	if now.Before(l.cautious) {
		return 1
	}
	return l.set.Concurrency
}

// minRows decides how full a packet must be to go before it is full.
// While calls are plentiful a packet goes when its oldest command has
// waited MaxWait (low latency). When the demand until the window ends —
// the backlog (held here and waiting in the stream) plus what keeps
// arriving at the recent rate — is more than the calls left can carry at
// the fill a call would have now, a partial packet would waste a scarce
// call: only full packets go, until the window is about to end (unused
// calls are lost then). l.patientUntil says until when it holds back.
func (l *lane) minRows(now time.Time) int {
	l.patientUntil = time.Time{}
	g := l.grant
	if g.Reset.IsZero() || l.set.MaxRows <= 1 {
		return 0 // no grant yet: nothing known of the quota
	}
	if length := g.Reset.Sub(g.Start); !now.Before(g.Reset) && length > 0 {
		// A later window than the last grant's: none of its calls is
		// known to be spent yet.
		k := now.Sub(g.Start) / length
		g.Start = g.Start.Add(k * length)
		g.Reset, g.Used = g.Start.Add(length), 0
	}
	fill := l.b.Ready(now)
	if fill == 0 || fill >= l.set.MaxRows {
		return 0
	}
	left := g.Reset.Sub(now)
	demand := float64(uint64(l.b.Len())+l.pending) + l.arrivals.rate(now)*left.Seconds()
	n, until := patience(demand, g.Remaining(), fill, l.set.MaxRows, left, time.Duration(l.set.MaxWait))
	if n > 0 {
		l.patientUntil = now.Add(until)
	}
	return n
}

// patience is minRows's rule, on plain numbers: the demand until the
// window ends, the calls left, the fill of the packet that is due, the
// packet size, the time left in the window and MaxWait. It returns maxRows
// to hold partial packets back (and for how long at most), 0 to send them.
func patience(demand float64, remaining, fill, maxRows int, left, maxWait time.Duration) (int, time.Duration) {
	endsSoon := 2*maxWait + time.Second
	if left <= endsSoon {
		return 0, 0 // the window ends soon: use what is left
	}
	if demand > float64(remaining)*float64(fill) {
		return maxRows, left - endsSoon
	}
	return 0, 0
}

// rateMeter estimates an arrival rate: an exponentially decaying count,
// with a time constant of rateWindow.
type rateMeter struct {
	value float64 // events per second at last
	last  time.Time
}

const rateWindow = 30 * time.Second

// add counts n events at now.
func (m *rateMeter) add(now time.Time, n int) {
	m.value = m.rate(now) + float64(n)/rateWindow.Seconds()
	m.last = now
}

// rate returns the events per second at now.
func (m *rateMeter) rate(now time.Time) float64 {
	if m.last.IsZero() {
		return 0
	}
	return m.value * math.Exp(-now.Sub(m.last).Seconds()/rateWindow.Seconds())
}

// updatePause stops the fetcher while the operation cannot call (quota,
// backoff or credentials) and it already holds a full packet: fetching more
// would only fill memory and burn nothing useful.
func (l *lane) updatePause() {
	blocked := l.w.now().Before(l.notBefore) || !l.w.auth.ready()
	pause := blocked && l.b.Len() >= l.set.MaxRows
	if l.pause.Swap(pause) && !pause {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// call sends one packet and reports back. It runs on the background
// context: a call in flight is finished even during shutdown (bounded by
// CallTimeout), because abandoning it would leave its outcome unknown.
func (l *lane) call(p batcher.Packet[*entry]) {
	out := callOutcome{p: p, batch: l.op.Name + "-" + nuid.Next()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.set.CallTimeout))
	defer cancel()
	if !l.op.Repeatable {
		lost, err := l.w.markSent(ctx, l.op.Name, out.batch, p.Items)
		if err != nil {
			out.err = &soap.TransportError{Op: l.op.Name, Err: err}
			l.calls <- out
			return
		}
		if len(lost) > 0 {
			kept := make([]batcher.Item[*entry], 0, len(p.Items)-len(lost))
			for i, it := range p.Items {
				if slices.Contains(lost, i) {
					out.lost = append(out.lost, it)
				} else {
					kept = append(kept, it)
				}
			}
			p.Items, out.p.Items = kept, kept
			if len(kept) == 0 {
				l.calls <- out
				return
			}
		}
	}
	start := time.Now()
	out.resp, out.err = l.w.api.Call(ctx, l.request(p))
	out.latency = time.Since(start)
	l.calls <- out
}

// request builds the API request of a packet: a ValueTable for batched
// writes, plain children for the file and message operations, a Structure
// for everything else.
func (l *lane) request(p batcher.Packet[*entry]) *soap.Request {
	first := p.Items[0].Value
	switch l.op.Kind {
	case catalog.Plain:
		return &soap.Request{Op: l.op.Name, Children: first.props}
	case catalog.BatchWrite:
	default:
		return &soap.Request{Op: l.op.Name, Params: soap.Struct(first.props...)}
	}
	t := &soap.Table{Columns: make([]soap.Column, len(first.props)), Rows: make([][]soap.Value, len(p.Items))}
	for j, prop := range first.props {
		kind := soap.KindNil
		if param, ok := l.op.Param(prop.Name); ok {
			kind = param.Type
		} else {
			// A field the catalogue does not know is typed by its first
			// non-nil value; a cell of another kind carries its own type.
			for _, it := range p.Items {
				if k := it.Value.props[j].Value.Kind; k != soap.KindNil {
					kind = k
					break
				}
			}
		}
		t.Columns[j] = soap.Column{Name: prop.Name, Type: soap.TypeOf(kind)}
	}
	for i, it := range p.Items {
		row := make([]soap.Value, len(it.Value.props))
		for j, prop := range it.Value.props {
			row[j] = prop.Value
		}
		t.Rows[i] = row
	}
	return &soap.Request{Op: l.op.Name, Params: soap.TableValue(t)}
}

// handle decides, for every command of a call, between a final result, a
// retry, and waiting: the one place where API outcomes are mapped.
func (l *lane) handle(ctx context.Context, out callOutcome) {
	now := l.w.now()
	for _, it := range out.lost {
		l.lostRace(it.Value)
	}
	if len(out.p.Items) == 0 {
		return // every command of the packet was lost to another delivery
	}
	items := out.p.Items
	var requeue []batcher.Item[*entry]
	var resultErr *soap.ResultError
	var authErr *soap.AuthError
	var faultErr *soap.FaultError
	outcome := "success"
	switch {
	case out.err == nil:
		l.bo.Reset()
		l.w.auth.ok()
		if l.op.Kind != catalog.BatchWrite {
			l.finish(items[0], 0, 1, out, soap.CodeSuccess, singleData(out.resp), "")
			break
		}
		// More rows than were sent, or a row of the wrong width, is an
		// answer whose rows cannot be matched to the commands.
		rows, err := out.resp.RowsFor(len(items))
		if err != nil {
			// Answered, but not with a per-row table: what was applied is
			// unknown.
			out.err = err
			outcome = l.failed(now, out, &requeue)
			break
		}
		exhausted := false
		for i, it := range items {
			switch {
			case i >= len(rows):
				// Not processed: the service stopped (its limit). Sent again
				// later, not counted as a failure.
				requeue = append(requeue, it)
			case rows[i].Code == soap.CodeOutOfLimit:
				exhausted = true
				requeue = append(requeue, it)
			default:
				reason := ""
				if rows[i].Code != soap.CodeSuccess {
					reason = rows[i].Data.Text
				}
				l.finish(it, i, len(items), out, rows[i].Code, rows[i].Data.Interface(), reason)
			}
		}
		if len(requeue) > 0 {
			outcome = "partial"
			if exhausted || len(rows) < len(items) {
				l.exhausted(ctx, now)
			}
		}
	case errors.As(out.err, &resultErr):
		l.bo.Reset()
		l.w.auth.ok()
		if errors.Is(out.err, soap.ErrOutOfLimit) {
			outcome = "out_of_limit"
			requeue = items
			l.exhausted(ctx, now)
			break
		}
		outcome = "api_error"
		for i, it := range items {
			l.finish(it, i, len(items), out, resultErr.Code, resultErr.Reason, resultErr.Reason)
		}
	case errors.As(out.err, &authErr):
		outcome = "unauthorized"
		requeue = items
		l.w.auth.block(now, out.err)
	case errors.As(out.err, &faultErr):
		l.bo.Reset()
		l.w.auth.ok()
		outcome = "fault"
		if len(items) > 1 {
			// One row may break the whole packet: halve it until the row
			// that does is alone; the others go through.
			for _, it := range items {
				it.Value.failures++
			}
			l.b.Split(out.p)
			l.log.Warn().Err(out.err).Int("rows", len(items)).Str("batch", out.batch).Msg("packet failed with a SOAP fault; splitting it")
			break
		}
		it := items[0]
		it.Value.failures++
		if it.Value.failures >= l.set.MaxAttempts {
			l.finishDead(it, out, contract.CodeSOAPFault, faultErr.Error(), "SOAP fault on every attempt")
			break
		}
		requeue = items
		l.notBefore = now.Add(l.bo.NextBackOff())
	default:
		outcome = l.failed(now, out, &requeue)
	}
	l.w.met.calls.WithLabelValues(l.op.Name, outcome).Inc()
	if out.latency > 0 {
		l.w.met.latency.WithLabelValues(l.op.Name).Observe(out.latency.Seconds())
	}
	l.b.Requeue(requeue)
	ev := l.log.Debug()
	if outcome != "success" {
		ev = l.log.Info()
	}
	ev.Str("batch", out.batch).Int("rows", len(items)).Int("retry", len(requeue)).Str("outcome", outcome).
		Dur("latency", out.latency).AnErr("error", out.err).Msg("call")
}

// failed handles a call that failed without a usable answer: retried
// with backoff when that is safe, else ended with UNKNOWN_OUTCOME.
func (l *lane) failed(now time.Time, out callOutcome, requeue *[]batcher.Item[*entry]) string {
	if soap.MayHaveBeenProcessed(out.err) && !l.op.Repeatable && !*l.set.RetryUnknownOutcome {
		for _, it := range out.p.Items {
			l.finishDead(it, out, contract.CodeUnknownOutcome,
				"the call may have been processed: "+out.err.Error(), "outcome unknown, not repeated")
		}
		return "unknown_outcome"
	}
	for _, it := range out.p.Items {
		it.Value.failures++
		if it.Value.failures >= l.set.MaxAttempts {
			l.finishDead(it, out, contract.CodeTransportError, out.err.Error(), "retries exhausted")
			continue
		}
		*requeue = append(*requeue, it)
	}
	l.notBefore = now.Add(l.bo.NextBackOff())
	l.log.Warn().Err(out.err).Time("retry_at", l.notBefore).Msg("call failed")
	return "transport_error"
}

// exhausted records an OUT_OF_LIMIT answer: no call of the operation until
// the quota says so.
func (l *lane) exhausted(ctx context.Context, now time.Time) {
	if g := l.grant; g.Reset.After(now) {
		l.cautious = g.Reset.Add(g.Reset.Sub(g.Start)) // this window and the next
	}
	if err := l.w.limiter.Exhausted(ctx, l.op.Name, now); err != nil {
		l.log.Warn().Err(err).Msg("recording OUT_OF_LIMIT failed")
	}
	l.log.Info().Msg("API answered OUT_OF_LIMIT; waiting for the next window")
}

// finish queues a command's final result.
func (l *lane) finish(it batcher.Item[*entry], row, rows int, out callOutcome, code string, data any, reason string) {
	e := it.Value
	e.finishing = true
	l.finals = append(l.finals, &final{e: e, result: contract.Result{
		ID: e.cmd.ID, Op: e.op, Code: code, Data: data, Error: reason,
		Batch: out.batch, Row: row + 1, Rows: rows, Attempts: e.calls, At: l.w.now().UTC(),
	}})
}

// finishDead queues a final result that also goes to the dead-letter
// stream.
func (l *lane) finishDead(it batcher.Item[*entry], out callOutcome, code, msg, why string) {
	l.finish(it, 0, 0, out, code, nil, msg)
	fn := l.finals[len(l.finals)-1]
	fn.dlq = why
	fn.result.Row, fn.result.Rows = 0, 0
}

// singleData is the data of a one-object call: ResultData, with any
// further children of the answer (a downloaded file's fileData) beside it.
func singleData(resp *soap.Response) any {
	if len(resp.Extra) == 0 {
		return resp.Data.Interface()
	}
	m := map[string]any{"ResultData": resp.Data.Interface()}
	for _, x := range resp.Extra {
		m[x.Name] = x.Value.Text
	}
	return m
}

// shutdown stops the lane. The fetcher's last fetch runs out (commands it
// brings are kept aside); calls in flight are finished and their results
// recorded; then, with no pull request of this worker left on the server,
// every command not finished is handed back (negatively acknowledged, so
// another replica takes it at once), those queued first and those held
// behind an object's previous command last, so an object's commands keep
// their order.
func (l *lane) shutdown(fetchDone <-chan struct{}, keepalive *time.Ticker) {
	deadline := time.NewTimer(l.w.cfg.ShutdownTimeout)
	defer deadline.Stop()
	var late []*entry // fetched during shutdown, never queued
	fetching := true
	for fetching || l.inflight > 0 || len(l.finals) > 0 {
		var toFinisher chan<- []*final
		if len(l.finals) > 0 {
			toFinisher = l.fin.in
		}
		select {
		case es := <-l.in:
			late = append(late, es...)
		case <-fetchDone:
			fetchDone, fetching = nil, false
		case out := <-l.calls:
			l.inflight--
			l.handle(context.Background(), out)
		case toFinisher <- l.finals:
			l.finals = nil
		case es := <-l.done:
			l.release(es)
		case <-keepalive.C:
			l.progress()
		case <-deadline.C:
			l.log.Warn().Int("calls_in_flight", l.inflight).Msg("shutdown timeout: leaving calls unfinished; their commands are redelivered after the ack wait")
			fetching, l.inflight, l.finals = false, 0, nil
		}
	}
	for _, e := range late {
		l.handBack(e)
	}
	for _, p := range l.b.Flush() {
		for _, it := range p.Items {
			l.handBack(it.Value)
		}
	}
	// What is still held and not with the finisher waited behind a call
	// that has now ended.
	for _, e := range l.held {
		if !e.finishing {
			l.handBack(e)
		}
	}
}

// lostRace gives back a command whose "sent" record another delivery of
// it wrote first: that delivery's call decides its result. It comes back
// after the call timeout, and is then answered from the record.
func (l *lane) lostRace(e *entry) {
	l.log.Warn().Str("id", e.cmd.ID).Uint64("stream_seq", e.seq).Msg("another delivery of this command is being sent; answering it from that call's outcome later")
	delete(l.held, e.seq)
	l.b.Done(e.key)
	l.bytes.release(e.cost)
	<-l.slots
	l.depth.Store(int64(len(l.held)))
	if err := e.msg.NakWithDelay(time.Duration(l.set.CallTimeout) + natsTimeout); err != nil {
		l.log.Debug().Err(err).Msg("hand back failed; the command is redelivered after the ack wait")
	}
}

// handBack gives a command back to the server for redelivery.
func (l *lane) handBack(e *entry) {
	delete(l.held, e.seq)
	l.bytes.release(e.cost)
	<-l.slots
	l.depth.Store(int64(len(l.held)))
	if err := e.msg.Nak(); err != nil {
		l.log.Debug().Err(err).Msg("hand back failed; the command is redelivered after the ack wait")
	}
}

// fetch pulls commands while the lane has room for them.
func (l *lane) fetch(ctx context.Context) {
	group := l.w.cfg.Names.PriorityGroup
	for ctx.Err() == nil {
		if l.pause.Load() {
			select {
			case <-l.wake:
			case <-ctx.Done():
				return
			case <-time.After(l.w.cfg.FetchWait):
			}
			continue
		}
		// Bytes: fetch no more commands than the lane's and the process's
		// budgets could hold were each of the largest size the command
		// stream accepts. (A fetch bounded in bytes, FetchMaxBytes, would
		// be exact, but on a clustered stream the server then answers
		// each pull only at its expiry.)
		room, freed := l.bytes.free()
		fit := int(room / l.w.maxCost)
		if fit < 1 {
			select {
			case <-freed:
			case <-ctx.Done():
				return
			}
			continue
		}
		// One slot per command fetched: block for the first, take the
		// free ones after it.
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
		for n < min(256, fit) {
			select {
			case l.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		// FetchMaxWait, not a context: the client then listens a second
		// longer than the server's pull request lives, so a command the
		// server sends just before the request expires is not dropped on
		// arrival (it would come back only after the ack wait, behind newer
		// commands for its object). For the same reason the fetch is not
		// cut short at shutdown: it runs out, and what it brings is handed
		// back.
		opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(l.w.cfg.FetchWait)}
		if !l.w.cfg.Unordered {
			opts = append(opts, jetstream.FetchPriorityGroup(group))
		}
		batch, err := l.cons.Fetch(n, opts...)
		got := 0
		if err == nil {
			// Commands are handed on as they arrive, in chunks of what is
			// there, not when the whole batch is in: a fetch may wait
			// FetchWait for its last command.
			msgs := batch.Messages()
			for m := range msgs {
				chunk := []jetstream.Msg{m}
			drain:
				for {
					select {
					case m, ok := <-msgs:
						if !ok {
							break drain
						}
						chunk = append(chunk, m)
					default:
						break drain
					}
				}
				got += len(chunk)
				l.prepare(ctx, chunk)
			}
			err = batch.Error()
		}
		for range n - got {
			<-l.slots
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) &&
			!errors.Is(err, jetstream.ErrPinIDMismatch) && ctx.Err() == nil {
			l.log.Debug().Err(err).Msg("fetch")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second): // NATS unreachable: try again shortly
			}
		}
	}
}

// lookupRetry looks commands up until the bucket answers or the worker
// stops.
func (l *lane) lookupRetry(ctx context.Context, es []*entry) ([]*record, error) {
	delay := 100 * time.Millisecond
	for {
		recs, err := l.w.lookupMany(context.Background(), es)
		l.w.outcomeState(err)
		if err == nil {
			return recs, nil
		}
		l.log.Warn().Err(err).Dur("retry_in", delay).Msg("outcome bucket unavailable; looking the commands up again")
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// prepare decodes fetched commands, answers the ones that are invalid or
// already finished, and hands the rest to the loop in stream order.
func (l *lane) prepare(ctx context.Context, msgs []jetstream.Msg) {
	now := l.w.now()
	entries := make([]*entry, len(msgs))
	finals := make([]*final, len(msgs))
	for i, m := range msgs {
		// Charged before decoding: decoding is what takes the memory.
		cost := commandCost(m)
		l.bytes.charge(cost)
		entries[i], finals[i] = l.w.decode(m, l.op.Name, l.op, now)
		entries[i].cost = cost
	}
	// Look the valid ones up in the outcome bucket, in one request. A
	// lookup that fails is tried again (the fetcher waits, so no later
	// command overtakes these): handing the commands back instead would
	// reorder them behind newer commands for the same object.
	var todo []*entry
	var at []int
	for i, e := range entries {
		if finals[i] == nil {
			todo, at = append(todo, e), append(at, i)
		}
	}
	if len(todo) > 0 {
		recs, err := l.lookupRetry(ctx, todo)
		if err != nil {
			// Shutting down with the bucket unreachable: give everything back.
			for _, e := range entries {
				_ = e.msg.Nak()
				l.bytes.release(e.cost)
				<-l.slots
			}
			return
		}
		for j, rec := range recs {
			finals[at[j]] = l.w.answer(todo[j], rec, *l.set.RetryUnknownOutcome, now)
		}
	}
	var valid []*entry
	var answered []*final
	for i, e := range entries {
		switch {
		case finals[i] != nil:
			finals[i].e.finishing = true
			answered = append(answered, finals[i])
		default:
			valid = append(valid, e)
		}
	}
	// Both hand-overs complete even during shutdown: the finisher runs
	// until the lane closes it, and the lane takes (and hands back) what
	// the fetcher brings until the fetcher is done.
	if len(answered) > 0 {
		l.fin.in <- answered
	}
	if len(valid) > 0 {
		l.in <- valid
	}
}

// recentSet remembers the last n sequences added, to recognise late
// second deliveries of finished commands.
type recentSet struct {
	set  map[uint64]struct{}
	ring []uint64
	next int
}

func (r *recentSet) init(n int) {
	r.set = make(map[uint64]struct{}, n)
	r.ring = make([]uint64, n)
}

func (r *recentSet) has(seq uint64) bool {
	_, ok := r.set[seq]
	return ok
}

func (r *recentSet) add(seq uint64) {
	if seq == 0 || r.has(seq) {
		return
	}
	if old := r.ring[r.next]; old != 0 {
		delete(r.set, old)
	}
	r.ring[r.next] = seq
	r.set[seq] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
