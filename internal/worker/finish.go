package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// finisher records, publishes and acknowledges final results, in that
// order, for one lane. It is the only place a command is acknowledged.
//
// For every command: the outcome goes into the outcome bucket; once that
// is stored, the result goes to the result stream (with a Nats-Msg-Id, so
// a second publication after a crash is stored once), to the command's
// reply subject and, for commands that could not be processed, with the
// original message to the dead-letter stream; once those are stored, the
// command is acknowledged. A crash anywhere in between leaves the command
// unacknowledged; its redelivery finds the outcome and is answered from
// it, never sent to the API again.
type finisher struct {
	w    *Worker
	lane string // operation name for logs and metrics
	in   chan []*final
	// done receives the finished entries, for the lane to release their
	// keys and slots; nil for the sweeper's finisher.
	done chan<- []*entry
}

// finishers is how many batches a finisher works on at once: each waits
// twice for the server's acknowledgements, and overlapping batches keeps
// the server busy instead of the lane waiting.
const finishers = 4

// run finishes batches until in is closed and every batch is done, then
// returns. A batch that cannot be finished (NATS unreachable) is retried
// with backoff; nothing is acknowledged before its outcome is stored.
func (f *finisher) run() {
	sem := make(chan struct{}, finishers)
	for batch := range f.in {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			f.finishRetry(batch)
		}()
	}
	for range finishers {
		sem <- struct{}{}
	}
}

// finishRetry finishes one batch, retrying until it is done, then hands
// its entries back to the lane.
func (f *finisher) finishRetry(batch []*final) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 0
	for attempt := 1; ; attempt++ {
		err := f.finish(batch)
		if err == nil {
			break
		}
		f.w.log.Warn().Err(err).Str("op", f.lane).Int("commands", len(batch)).Int("attempt", attempt).Msg("recording results failed; retrying")
		if f.w.stopping.Load() && attempt >= 3 {
			// Shutting down and NATS is unreachable: leave the commands
			// unacknowledged; they are redelivered and answered then.
			break
		}
		time.Sleep(bo.NextBackOff()) // backoff between retries of a failed NATS write
	}
	if f.done != nil {
		es := make([]*entry, len(batch))
		for i, fn := range batch {
			es[i] = fn.e
		}
		f.done <- es
	}
}

// finish does the whole sequence for one batch.
func (f *finisher) finish(batch []*final) error {
	// Short: a stream whose leader just died never acknowledges; the batch
	// is then written again (idempotently) once a new leader is elected.
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	n := f.w.cfg.Names
	for _, fn := range batch {
		f.fit(fn)
	}
	// 1. Outcomes first. Each is written only over the record this
	// worker last saw for the command (none, or its own "sent" record):
	// if another replica recorded a final result first (a command
	// delivered twice), that one is adopted, so a command never ends with
	// two different results.
	var futures []jetstream.PubAckFuture
	var written []*final
	for _, fn := range batch {
		if fn.replay || fn.result.ID == "" {
			continue
		}
		m, err := f.outcomeMsg(fn)
		if err != nil {
			return err
		}
		fut, err := f.w.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("record outcome: %w", err)
		}
		futures = append(futures, fut)
		written = append(written, fn)
	}
	for i, fut := range futures {
		select {
		case ack := <-fut.Ok():
			written[i].e.outcomeRev = ack.Sequence
		case err := <-fut.Err():
			if !isWrongLastSequence(err) {
				return fmt.Errorf("record outcome: %w", err)
			}
			if err := f.resolve(ctx, written[i]); err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("record outcome: %w", ctx.Err())
		}
	}
	// 2. Results and dead letters.
	futures = futures[:0]
	for _, fn := range batch {
		m := nats.NewMsg(n.ResultPrefix + fn.e.op)
		m.Data = fn.payload
		if fn.e.format == contract.JSON {
			m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
		}
		if fn.result.ID != "" {
			m.Header.Set(contract.HeaderMsgID, contract.ResultMsgID(fn.e.op, fn.result.ID))
		}
		fut, err := f.w.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish result: %w", err)
		}
		futures = append(futures, fut)
		if fn.dlq != "" && !fn.replay {
			// The dead letter carries an id of its own, so that writing a
			// batch again after a lost acknowledgement stores it once.
			fut, err := f.w.js.PublishMsgAsync(f.deadLetter(fn))
			if err != nil {
				return fmt.Errorf("publish dead letter: %w", err)
			}
			futures = append(futures, fut)
		}
	}
	if err := wait(ctx, futures); err != nil {
		return fmt.Errorf("publish result: %w", err)
	}
	// The reply subject is plain NATS: at most once per publication, and
	// published only once the result is stored.
	for _, fn := range batch {
		if fn.e.replyTo == "" {
			continue
		}
		m := nats.NewMsg(fn.e.replyTo)
		m.Data = fn.payload
		if fn.e.format == contract.JSON {
			m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
		}
		if err := f.w.nc.PublishMsg(m); err != nil {
			f.w.log.Warn().Err(err).Str("op", fn.e.op).Str("id", fn.result.ID).Msg("reply not delivered; the result is in the result stream")
		}
	}
	// 3. Acknowledge. While shutting down, acks are confirmed by the
	// server, so that nothing is redelivered needlessly.
	confirm := f.w.stopping.Load()
	for _, fn := range batch {
		var err error
		if confirm {
			err = fn.e.msg.DoubleAck(ctx)
		} else {
			err = fn.e.msg.Ack()
		}
		if err != nil {
			// The outcome is stored: a redelivery is answered from it.
			f.w.log.Warn().Err(err).Str("op", fn.e.op).Str("id", fn.result.ID).Msg("ack failed; the command will be redelivered and answered from its outcome")
		}
		f.w.met.results.WithLabelValues(f.lane, fn.result.Code).Inc()
	}
	return nil
}

// fit replaces a result too large for one NATS message (a big read) by a
// RESULT_TOO_LARGE result: a result that cannot be stored would be retried
// for ever, and the command never answered.
//
// It also encodes the result once, for every publication of it.
func (f *finisher) fit(fn *final) {
	payload, err := contract.EncodeResult(fn.e.format, fn.result)
	limit := f.w.nc.MaxPayload() - 16<<10 // headers and the outcome record's own fields
	if err == nil && int64(len(payload)) <= limit {
		fn.payload = payload
		return
	}
	r := fn.result
	apiCode := r.Code
	r.Code, r.Data = contract.CodeResultTooLarge, nil
	if err != nil {
		r.Error = "result data cannot be encoded: " + err.Error()
	} else {
		r.Error = fmt.Sprintf("the API answered %s with %d bytes of data, more than a NATS message may carry (%d); narrow the read and send it again",
			apiCode, len(payload), limit)
	}
	fn.result = r
	fn.payload, _ = contract.EncodeResult(fn.e.format, r)
}

// outcomeMsg is the write of fn's final outcome, conditional on the
// record's revision being the one this worker last saw.
func (f *finisher) outcomeMsg(fn *final) (*nats.Msg, error) {
	r := fn.result
	rec, err := contract.EncodeOutcome(contract.Outcome{State: contract.StateFinal, Batch: r.Batch, Result: &r})
	if err != nil {
		return nil, fmt.Errorf("encode outcome: %w", err)
	}
	m := nats.NewMsg(f.w.kvSubject(contract.OutcomeKey(fn.e.op, r.ID)))
	m.Data = rec
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(fn.e.outcomeRev, 10))
	return m, nil
}

// resolve settles a conditional outcome write that lost: the record
// changed since this worker saw it. A final result recorded by someone
// else is adopted; anything else (another worker's "sent" record) is
// overwritten with this result, conditionally again.
func (f *finisher) resolve(ctx context.Context, fn *final) error {
	key := contract.OutcomeKey(fn.e.op, fn.result.ID)
	for range 16 {
		kve, err := f.w.kv.Get(ctx, key)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("record outcome: %w", err)
		}
		if err == nil {
			if o, derr := contract.DecodeOutcome(kve.Value()); derr == nil && o.State == contract.StateFinal {
				if o.Batch != fn.result.Batch {
					f.w.log.Warn().Str("op", fn.e.op).Str("id", fn.result.ID).Str("batch", fn.result.Batch).Str("recorded_batch", o.Batch).
						Msg("command was processed twice (delivered to two workers); the first recorded result stands")
				}
				fn.result = *o.Result
				fn.payload, _ = contract.EncodeResult(fn.e.format, fn.result)
				fn.e.outcomeRev = kve.Revision()
				return nil
			}
			fn.e.outcomeRev = kve.Revision()
		} else {
			fn.e.outcomeRev = 0
		}
		m, err := f.outcomeMsg(fn)
		if err != nil {
			return err
		}
		ack, err := f.w.js.PublishMsg(ctx, m)
		if err == nil {
			fn.e.outcomeRev = ack.Sequence
			return nil
		}
		if !isWrongLastSequence(err) {
			return fmt.Errorf("record outcome: %w", err)
		}
	}
	return fmt.Errorf("record outcome of %s: the record keeps changing", fn.result.ID)
}

// isWrongLastSequence reports a failed conditional write.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// deadLetter is the original command with the reason it could not be
// processed.
func (f *finisher) deadLetter(fn *final) *nats.Msg {
	m := nats.NewMsg(f.w.cfg.Names.DLQPrefix + fn.e.op)
	m.Data = fn.e.msg.Data()
	for k, vs := range fn.e.msg.Headers() {
		if k == contract.HeaderMsgID {
			continue // replaced below by the dead letter's own id
		}
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	m.Header.Set(contract.HeaderMsgID, "dlq."+contract.OutcomeKey(fn.e.op, fn.result.ID)+"."+fn.result.Batch+"."+strconv.FormatUint(fn.e.seq, 10))
	m.Header.Set(contract.HeaderDLQReason, fn.dlq+": "+fn.result.Error)
	m.Header.Set(contract.HeaderDLQCode, fn.result.Code)
	m.Header.Set(contract.HeaderDLQSubject, fn.e.msg.Subject())
	return m
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
