package worker

import (
	"context"
	"errors"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// The outcome of a call: the one place where API answers are mapped.
//
// decide is a pure function from what a call came back with (and what the
// operation is, and how often each command already failed) to a plan:
// which commands end and with what, which go again and how, whether the
// lane backs off, whether the window is spent, what the credentials are
// worth. The lane applies the plan; the table tests of outcome_test.go
// cover every branch.

// plan is what one call's outcome means.
type plan struct {
	// outcome is the metrics label of the call.
	outcome string
	// ends are the commands whose result is decided.
	ends []ending
	// again are sent again without counting as a failure (not processed:
	// OUT_OF_LIMIT, rows missing from the answer, refused credentials);
	// retry are sent again after a failed attempt (counted in failed).
	again, retry []batcher.Item[*entry]
	// expand are collapsed rows whose row failed: their commands are sent
	// again one at a time, so that each gets its own verdict.
	expand []batcher.Item[*entry]
	// split halves the whole packet (a SOAP fault on a packet of many).
	split bool
	// failed are the commands whose failure count goes up.
	failed []batcher.Item[*entry]
	// backoff: no call of the operation before the backoff's next
	// interval; resetBackoff: the API answered, the backoff starts over.
	backoff, resetBackoff bool
	// exhausted: the API said OUT_OF_LIMIT; the window is spent.
	exhausted bool
	// authOK, authBlock: the API accepted, or refused, the credentials.
	authOK, authBlock bool
	// err is the call's error, for the log.
	err error
}

// ending is one command's final result, as decided.
type ending struct {
	it        batcher.Item[*entry]
	row, rows int // its row of the call (from 0) and the call's rows; rows 0 when not a row's verdict
	code      string
	data      any
	reason    string
	// dlq, when not empty, is why the command also goes to the dead-letter
	// stream.
	dlq string
	// fields are the field problems of an INVALID_FIELDS ending.
	fields []contract.FieldProblem
}

// decideInput is what decide looks at besides the call's outcome.
type decideInput struct {
	kind         catalog.Kind
	repeatable   bool // the operation is safe to send twice
	retryUnknown bool // RetryUnknownOutcome
	maxAttempts  int
}

// decide maps one call's outcome to a plan.
func decide(in decideInput, out callOutcome) plan {
	items := out.p.Items
	pl := plan{err: out.err}
	var resultErr *soap.ResultError
	var authErr *soap.AuthError
	var faultErr *soap.FaultError
	switch {
	case out.err == nil && in.kind != catalog.BatchWrite:
		pl.outcome, pl.resetBackoff, pl.authOK = "success", true, true
		pl.row(items[0], 0, 1, soap.CodeSuccess, singleData(out.resp), "")
	case out.err == nil:
		pl.resetBackoff, pl.authOK = true, true
		// More rows than were sent, or a row of the wrong width, is an
		// answer whose rows cannot be matched to the commands: what was
		// applied is unknown.
		rows, err := out.resp.RowsFor(len(items))
		if err != nil {
			pl.err = err
			in.failedCall(&pl, items, err)
			break
		}
		pl.outcome = "success"
		for i, it := range items {
			switch {
			case i >= len(rows):
				// Not processed: the service stopped (its limit). Sent again
				// later, not counted as a failure.
				pl.again = append(pl.again, it)
				pl.exhausted = true
			case rows[i].Code == soap.CodeOutOfLimit:
				pl.again = append(pl.again, it)
				pl.exhausted = true
			default:
				reason := ""
				if rows[i].Code != soap.CodeSuccess {
					reason = rows[i].Data.Text
				}
				pl.row(it, i, len(items), rows[i].Code, rows[i].Data.Interface(), reason)
			}
		}
		if len(pl.again) > 0 {
			pl.outcome = "partial"
		}
	case errors.As(out.err, &resultErr):
		pl.resetBackoff, pl.authOK = true, true
		if errors.Is(out.err, soap.ErrOutOfLimit) {
			pl.outcome, pl.again, pl.exhausted = "out_of_limit", items, true
			break
		}
		pl.outcome = "api_error"
		for i, it := range items {
			pl.row(it, i, len(items), resultErr.Code, resultErr.Reason, resultErr.Reason)
		}
	case errors.As(out.err, &authErr):
		pl.outcome, pl.again, pl.authBlock = "unauthorized", items, true
	case errors.As(out.err, &faultErr):
		pl.outcome, pl.resetBackoff, pl.authOK = "fault", true, true
		pl.failed = items
		if len(items) > 1 {
			// One row may break the whole packet: halve it until the row
			// that does is alone; the others go through.
			pl.split = true
			break
		}
		it := items[0]
		if it.Value.failures+1 >= in.maxAttempts {
			if len(it.Collapsed) > 0 {
				pl.expand = append(pl.expand, it) // each of its commands on its own
				break
			}
			pl.end(ending{it: it, code: contract.CodeSOAPFault, reason: faultErr.Error(), dlq: "SOAP fault on every attempt"})
			break
		}
		pl.retry, pl.backoff = items, true
	default:
		in.failedCall(&pl, items, out.err)
	}
	return pl
}

// failedCall plans a call that failed without a usable answer: retried
// with backoff when that is safe, else ended with UNKNOWN_OUTCOME.
func (in decideInput) failedCall(pl *plan, items []batcher.Item[*entry], err error) {
	if soap.MayHaveBeenProcessed(err) && !in.repeatable && !in.retryUnknown {
		pl.outcome = "unknown_outcome"
		for _, it := range items {
			pl.end(ending{it: it, code: contract.CodeUnknownOutcome,
				reason: "the call may have been processed: " + err.Error(), dlq: "outcome unknown, not repeated"})
		}
		return
	}
	pl.outcome, pl.backoff, pl.failed = "transport_error", true, items
	for _, it := range items {
		if it.Value.failures+1 >= in.maxAttempts {
			pl.end(ending{it: it, code: contract.CodeTransportError, reason: err.Error(), dlq: "retries exhausted"})
			continue
		}
		pl.retry = append(pl.retry, it)
	}
}

// row plans a command's result from its row of the answer. A collapsed
// row that failed is expanded instead: its commands are sent again one
// at a time, each for its own verdict.
func (pl *plan) row(it batcher.Item[*entry], row, rows int, code string, data any, reason string) {
	if code != soap.CodeSuccess && len(it.Collapsed) > 0 {
		pl.expand = append(pl.expand, it)
		return
	}
	pl.end(ending{it: it, row: row, rows: rows, code: code, data: data, reason: reason})
}

func (pl *plan) end(e ending) { pl.ends = append(pl.ends, e) }

// handle applies the plan of one call's outcome.
func (l *lane) handle(ctx context.Context, out callOutcome) {
	now := l.clock.Now()
	for _, it := range out.lost {
		l.lostRace(it.Value)
	}
	for _, r := range out.refused {
		l.finish(ending{it: r.it, code: contract.CodeInvalidFields, reason: r.reason,
			fields: []contract.FieldProblem{{Field: r.field, Problem: boundText(r.problem, maxErrorText)}}}, out)
	}
	if len(out.p.Items) == 0 {
		return // every command of the packet was lost to another delivery, or refused
	}
	pl := decide(decideInput{
		kind: l.op.Kind, repeatable: l.op.Repeatable,
		retryUnknown: *l.set.RetryUnknownOutcome, maxAttempts: l.set.MaxAttempts,
	}, out)
	for _, it := range pl.failed {
		it.Value.failures++
	}
	for _, e := range pl.ends {
		l.finish(e, out)
	}
	if pl.resetBackoff {
		l.bo.Reset()
	}
	if pl.authOK {
		l.w.auth.ok()
	}
	if pl.authBlock {
		l.w.auth.block(now, out.err)
	}
	if pl.exhausted {
		l.exhausted(ctx, now)
	}
	if pl.backoff {
		l.notBefore = now.Add(l.bo.Next())
		l.log.Warn().Err(pl.err).Time("retry_at", l.notBefore).Msg("call failed")
	}
	if pl.split {
		l.b.Split(out.p)
		l.log.Warn().Err(out.err).Int("rows", len(out.p.Items)).Str("batch", out.batch).Msg("packet failed with a SOAP fault; splitting it")
	}
	for _, it := range pl.expand {
		l.b.Expand(it)
	}
	l.b.Requeue(append(pl.again, pl.retry...))
	l.w.met.calls.WithLabelValues(l.op.Name, pl.outcome).Inc()
	if out.latency > 0 {
		l.w.met.latency.WithLabelValues(l.op.Name).Observe(out.latency.Seconds())
	}
	ev := l.log.Debug()
	if pl.outcome != "success" {
		ev = l.log.Info()
	}
	ev.Str("batch", out.batch).Int("rows", len(out.p.Items)).Int("retry", len(pl.again)+len(pl.retry)).
		Int("expanded", len(pl.expand)).Str("outcome", pl.outcome).Dur("latency", out.latency).AnErr("error", pl.err)
	if out.trace.IsValid() {
		ev = ev.Str("trace_id", out.trace.TraceID().String())
	}
	ev.Msg("call")
}

// finish queues the final result of an ending, for its command and every
// command collapsed into its row, which get the same result and say into
// which command they were collapsed.
func (l *lane) finish(e ending, out callOutcome) {
	at := l.clock.Now().UTC()
	row, rows := e.row+1, e.rows
	if rows == 0 {
		row = 0
	}
	one := func(it batcher.Item[*entry], into string) {
		c := it.Value
		c.finishing = true
		l.finals = append(l.finals, &final{e: c, dlq: e.dlq, result: contract.Result{
			ID: c.cmd.ID, Op: c.op, Code: e.code, Data: e.data, Error: boundText(e.reason, maxErrorText),
			Batch: out.batch, Row: row, Rows: rows, Attempts: c.calls, At: at, CollapsedInto: into, Fields: e.fields,
		}})
	}
	one(e.it, "")
	for _, c := range e.it.Collapsed {
		one(c, e.it.Value.cmd.ID)
	}
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
