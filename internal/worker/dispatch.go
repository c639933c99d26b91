package worker

import (
	"context"
	"slices"
	"time"

	"github.com/nats-io/nuid"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// dispatch starts calls while it may: a free call slot, no backoff, the
// API not refusing the credentials, a packet ready (and not held back),
// and the quota granting a call.
func (l *lane) dispatch(ctx context.Context) {
	defer l.updatePause()
	for {
		now := l.clock.Now()
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
		l.holdingSince = time.Time{}
		if !l.quotaWait.IsZero() {
			l.w.met.quotaWait.WithLabelValues(l.op.Name).Add(now.Sub(l.quotaWait).Seconds())
			l.quotaWait = time.Time{}
		}
		l.flight(1)
		oldest := now
		for _, it := range p.Items {
			it.Value.calls++
			for _, c := range it.Collapsed {
				c.Value.calls++
			}
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

// minRows is how full a packet must be to go before it is full: 0 while
// the holding-back rule (hold.go) lets partial packets go, MaxRows while
// it holds them back. l.holdUntil says until when at the latest.
func (l *lane) minRows(now time.Time) int {
	l.holdUntil = time.Time{}
	g := l.grant
	if g.Reset.IsZero() {
		return 0 // no grant yet: nothing known of the quota
	}
	if length := g.Reset.Sub(g.Start); !now.Before(g.Reset) && length > 0 {
		// A later window than the last grant's: none of its calls is
		// known to be spent yet.
		k := now.Sub(g.Start) / length
		g.Start = g.Start.Add(k * length)
		g.Reset, g.Used = g.Start.Add(length), 0
	}
	left := g.Reset.Sub(now)
	if l.holdingSince.IsZero() {
		l.holdingSince = now
	}
	hold, until := holdBack(holdInput{
		now:       now,
		left:      left,
		remaining: g.Remaining(),
		needed:    l.b.Demand().Calls,
		queued:    int(l.pending),
		expected:  l.arrived.within(now, left),
		fill:      l.b.Ready(now),
		maxRows:   l.set.MaxRows,
		held:      now.Sub(l.holdingSince),
		maxWait:   time.Duration(l.set.MaxWait),
		maxHold:   time.Duration(l.set.MaxHold),
	})
	if !hold {
		l.holdingSince = time.Time{}
		return 0
	}
	l.holdUntil = now.Add(until)
	return l.set.MaxRows
}

// updatePause stops the fetcher while the operation cannot call (quota,
// backoff or credentials) and it already holds a full packet: fetching more
// would only fill memory and burn nothing useful.
func (l *lane) updatePause() {
	blocked := l.clock.Now().Before(l.notBefore) || !l.w.auth.ready()
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
// CallTimeout, itself bounded by the shutdown timeout), because abandoning
// it would leave its outcome unknown.
func (l *lane) call(p batcher.Packet[*entry]) {
	out := callOutcome{p: p, batch: l.op.Name + "-" + nuid.Next()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.set.CallTimeout))
	defer cancel()
	var props [][]soap.Property // the commands' properties, references checked
	if hasRefs(p.Items) {
		kept, ps, refused, err := l.resolveObjects(ctx, p.Items)
		if err != nil {
			out.err = &soap.TransportError{Op: l.op.Name, Err: err}
			l.calls <- out
			return
		}
		out.refused = refused
		p.Items, out.p.Items, props = kept, kept, ps
		if len(kept) == 0 {
			l.calls <- out
			return
		}
	}
	if !l.op.Repeatable {
		lost, err := l.w.outcomes.markSent(ctx, l.op.Name, out.batch, p.Items)
		if err != nil {
			out.err = &soap.TransportError{Op: l.op.Name, Err: err}
			l.calls <- out
			return
		}
		if len(lost) > 0 {
			kept := make([]batcher.Item[*entry], 0, len(p.Items)-len(lost))
			var keptProps [][]soap.Property
			for i, it := range p.Items {
				if slices.Contains(lost, i) {
					out.lost = append(out.lost, it)
				} else {
					kept = append(kept, it)
					if props != nil {
						keptProps = append(keptProps, props[i])
					}
				}
			}
			p.Items, out.p.Items, props = kept, kept, keptProps
			if len(kept) == 0 {
				l.calls <- out
				return
			}
		}
	}
	cctx, span := l.startCall(ctx, out.batch, p.Items)
	start := l.clock.Now()
	out.resp, out.err = l.w.api.Call(cctx, l.request(p, props))
	out.latency = l.clock.Now().Sub(start)
	endCall(span, out.err)
	out.trace = span.SpanContext()
	l.calls <- out
}

// request builds the API request of a packet: a ValueTable for batched
// writes, plain children for the file and message operations, a Structure
// for everything else. props, when not nil, are the commands' properties
// with their references checked (resolveObjects), in place of theirs.
func (l *lane) request(p batcher.Packet[*entry], props [][]soap.Property) *soap.Request {
	propsOf := func(i int) []soap.Property {
		if props != nil {
			return props[i]
		}
		return p.Items[i].Value.props
	}
	first := propsOf(0)
	switch l.op.Kind {
	case catalog.Plain:
		return &soap.Request{Op: l.op.Name, Children: first}
	case catalog.BatchWrite:
	default:
		return &soap.Request{Op: l.op.Name, Params: soap.Struct(first...)}
	}
	t := &soap.Table{Columns: make([]soap.Column, len(first)), Rows: make([][]soap.Value, len(p.Items))}
	for j, prop := range first {
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
	for i := range p.Items {
		ps := propsOf(i)
		row := make([]soap.Value, len(ps))
		for j, prop := range ps {
			row[j] = prop.Value
		}
		t.Rows[i] = row
	}
	return &soap.Request{Op: l.op.Name, Params: soap.TableValue(t)}
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
