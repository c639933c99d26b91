package feed

import (
	"context"
	"errors"
	"fmt"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// pollResult is what one poll did.
type pollResult struct {
	// outcome is the metrics label: success, no_grant, out_of_limit,
	// api_error, store_error.
	outcome string
	// retryAt, for no_grant and out_of_limit, is when to ask again.
	retryAt time.Time
	rows    int
	events  int
	err     error
}

// poll reads one answer of f's read from its marker, publishes an event
// for every object whose state is new, writes the mirror, and moves the
// marker; st is the feed's state and rev its record's revision, both
// updated on success.
func (r *Runner) poll(ctx context.Context, f Feed, op *catalog.Operation, st *State, rev *uint64) pollResult {
	c := r.cfg
	now := c.Clock.Now()
	g, err := c.Limiter.TakeShare(ctx, op.Name, quota.Share{Name: feedShare, Part: c.Share}, now)
	switch {
	case err != nil:
		return pollResult{outcome: "quota_error", err: err}
	case !g.OK:
		return pollResult{outcome: "no_grant", retryAt: g.RetryAt}
	}
	req, err := r.request(f, op, *st)
	if err != nil {
		return pollResult{outcome: "api_error", err: err}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.CallTimeout)
	defer cancel()
	callCtx, span := r.tracer.Start(callCtx, "poll "+f.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("connect.feed", f.Name), attribute.String("connect.op", op.Name)))
	defer span.End()
	start := c.Clock.Now()
	seen := start
	res := pollResult{outcome: "success"}
	var chunk []Event
	keys := map[string]bool{}
	flush := func() error {
		n, err := r.flush(callCtx, f, chunk)
		res.events += n
		chunk, keys = chunk[:0], map[string]bool{}
		return err
	}
	resp, err := c.API.CallRows(callCtx, req, soap.RowsOptions{MaxResponseBytes: c.MaxResponseBytes},
		func(cols []soap.Column, row []soap.Value) error {
			e, err := rowEvent(op.Name, op.Object, op.IDColumns, cols, row, seen)
			if err != nil {
				return err
			}
			res.rows++
			// The same object twice in one answer: its first state goes
			// out first, then the second is compared with it.
			k := MirrorKey(e.Object, e.ID)
			if keys[k] || len(chunk) >= c.Chunk {
				if err := flush(); err != nil {
					return err
				}
			}
			keys[k] = true
			chunk = append(chunk, e)
			return nil
		})
	if err == nil && len(chunk) > 0 {
		err = flush()
	}
	if err != nil {
		var re *soap.ResultError
		switch {
		case errors.Is(err, soap.ErrOutOfLimit):
			_ = c.Limiter.Exhausted(ctx, op.Name, now)
			res.outcome, res.retryAt = "out_of_limit", g.Reset.Add(time.Second)
		case errors.As(err, &re):
			res.outcome = "api_error"
		case errors.Is(err, errStore):
			res.outcome = "store_error"
		default:
			res.outcome = "api_error"
		}
		res.err = err
		return res
	}
	received := c.Clock.Now()
	if d, ok := skew(received, resp.ServerTime); ok {
		r.met.skew.WithLabelValues(f.Name).Set(d.Seconds())
		if d > time.Duration(f.Overlap) || -d > time.Duration(f.Overlap) {
			r.log.Warn().Str("feed", f.Name).Dur("skew", d).Dur("overlap", time.Duration(f.Overlap)).
				Msg("the service's clock and the worker's differ by more than the overlap; the marker follows the earlier of the two, raise the overlap")
		}
	}
	next := *st
	next.Marker = nextMarker(start, resp.ServerTime, received.Sub(start))
	next.LastPoll, next.Polls = start, st.Polls+1
	next.Events, next.Rows = st.Events+int64(res.events), st.Rows+int64(res.rows)
	next.Op, next.Every = f.Read, f.Interval
	sctx, scancel := context.WithTimeout(ctx, natsTimeout)
	defer scancel()
	newRev, err := r.st.saveState(sctx, f.Name, next, *rev)
	if err != nil {
		// The events are stored: the next poll reads them again and finds
		// them in the mirror.
		return pollResult{outcome: "store_error", rows: res.rows, events: res.events, err: err}
	}
	*st, *rev = next, newRev
	return res
}

// request is the read of a poll: the feed's filters and ChangedFrom.
func (r *Runner) request(f Feed, op *catalog.Operation, st State) (*soap.Request, error) {
	fields := make(map[string]any, len(f.Filters)+1)
	for k, v := range f.Filters {
		fields[k] = v
	}
	if from, ok := changedFrom(st.Marker, f.Since, time.Duration(f.Overlap)); ok {
		// Written as a wall clock in the account's time zone, to the
		// second; rounded down, so that nothing of that second is skipped.
		fields["ChangedFrom"] = from.In(r.cfg.Location).Truncate(time.Second).Format(soap.DateTimeLayout)
	}
	props, err := op.Fields(fields)
	if err != nil {
		return nil, fmt.Errorf("feed: %s: %w", f.Name, err)
	}
	return &soap.Request{Op: op.Name, Params: soap.Struct(props...)}, nil
}

// errStore marks a failure of JetStream, not of the API.
var errStore = errors.New("feed: storing the changes failed")

// flush publishes the events of a chunk whose state is new, and then
// writes their states to the mirror. It returns the events published.
func (r *Runner) flush(ctx context.Context, f Feed, chunk []Event) (int, error) {
	if len(chunk) == 0 {
		return 0, nil
	}
	keys := make([]string, len(chunk))
	for i, e := range chunk {
		keys[i] = MirrorKey(e.Object, e.ID)
	}
	lctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	have, err := r.st.lookup(lctx, keys)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errStore, err)
	}
	var changed []int
	for i, e := range chunk {
		if have[keys[i]].version != e.Version {
			changed = append(changed, i)
		}
	}
	if len(changed) == 0 {
		return 0, nil
	}
	// Events first: a state is in the mirror only once its event is
	// stored, so a crash between the two publishes the event again (the
	// same Nats-Msg-Id), never loses it.
	futures := make([]jetstream.PubAckFuture, 0, len(changed))
	for _, i := range changed {
		e := chunk[i]
		m, err := r.eventMsg(e, f.Msgpack)
		if err != nil {
			return 0, err
		}
		propagation.TraceContext{}.Inject(ctx, contract.TraceCarrier(m.Header))
		fut, err := r.js.PublishMsgAsync(m)
		if err != nil {
			return 0, fmt.Errorf("%w: event: %w", errStore, err)
		}
		futures = append(futures, fut)
	}
	if err := wait(lctx, futures); err != nil {
		return 0, fmt.Errorf("%w: event: %w", errStore, err)
	}
	futures = futures[:0]
	for _, i := range changed {
		m, err := r.st.mirrorWrite(keys[i], record(chunk[i]), have[keys[i]].rev)
		if err != nil {
			return 0, err
		}
		fut, err := r.js.PublishMsgAsync(m)
		if err != nil {
			return 0, fmt.Errorf("%w: mirror: %w", errStore, err)
		}
		futures = append(futures, fut)
	}
	if err := wait(lctx, futures); err != nil {
		return 0, fmt.Errorf("%w: mirror: %w", errStore, err)
	}
	r.met.events.WithLabelValues(f.Name).Add(float64(len(changed)))
	return len(changed), nil
}

// eventMsg is the message of an event.
func (r *Runner) eventMsg(e Event, asMsgpack bool) (*nats.Msg, error) {
	b, ct, err := encodeEvent(e, asMsgpack)
	if err != nil {
		return nil, fmt.Errorf("feed: event: %w", err)
	}
	m := nats.NewMsg(e.Subject(r.cfg.Names.ChangePrefix))
	m.Data = b
	m.Header.Set(headerMsgID, e.MsgID())
	m.Header.Set(HeaderObject, e.ID)
	m.Header.Set(contentType, ct)
	return m, nil
}

// wait waits for every publish acknowledgement.
func wait(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, fut := range futures {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
