package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/retry"
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
}

// finishers is how many batches a finisher works on at once: each waits
// twice for the server's acknowledgements, and overlapping batches keeps
// the server busy instead of the lane waiting.
const finishers = 4

// run finishes batches until in is closed and every batch is done, then
// returns; each finished batch's entries go to done (nil: nowhere), for
// the lane to release their keys and slots. A batch that cannot be
// finished (NATS unreachable) is retried with backoff; nothing is
// acknowledged before its outcome is stored.
func (f *finisher) run(in <-chan []*final, done chan<- []*entry) {
	sem := make(chan struct{}, finishers)
	for batch := range in {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			f.finishRetry(batch, done)
		}()
	}
	for range finishers {
		sem <- struct{}{}
	}
}

// finishRetry finishes one batch, retrying until it is done, then hands
// its entries back to the lane.
func (f *finisher) finishRetry(batch []*final, done chan<- []*entry) {
	// No context: a batch is finished even while the worker stops (its
	// results must be recorded); only NATS staying unreachable through a
	// shutdown gives up, leaving the commands to be redelivered.
	failedWhileStopping := 0
	_ = retry.Do(context.Background(), f.w.clock, retry.Policy{
		Initial: 100 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(err error, attempt int, _ time.Duration) {
			f.w.log.Warn().Err(err).Str("op", f.lane).Int("commands", len(batch)).Int("attempt", attempt).Msg("recording results failed; retrying")
			// The commands wait here, not in the lane: keep them from
			// being delivered again meanwhile.
			for _, fn := range batch {
				_ = fn.e.msg.InProgress()
			}
		},
	}, func(context.Context) error {
		// Only transient failures come back from finish (NATS
		// unreachable, a stream without a leader): it settles permanent
		// ones itself, so no slot is held by a write that can never
		// succeed.
		err := f.finish(batch)
		f.w.finishState(err)
		if err != nil && f.w.stopping.Load() {
			if failedWhileStopping++; failedWhileStopping >= 3 {
				return retry.Permanent(err)
			}
		}
		return err
	})
	if done != nil {
		es := make([]*entry, len(batch))
		for i, fn := range batch {
			es[i] = fn.e
		}
		done <- es
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
		if err := f.fit(fn); err != nil {
			return err
		}
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
	// 2. Results and dead letters. A write refused for good (too large
	// for the server or the stream, a header the client cannot encode) is
	// settled here, never retried: a dead letter goes again without its
	// payload, and a result that cannot be stored is logged (its outcome
	// is recorded, so a redelivery is answered from it).
	type pending struct {
		fut jetstream.PubAckFuture
		fn  *final
		dlq bool
	}
	var pubs []pending
	publish := func(fn *final, m *nats.Msg, dlq bool) error {
		fut, err := f.w.js.PublishMsgAsync(m)
		switch {
		case err == nil:
			pubs = append(pubs, pending{fut, fn, dlq})
			return nil
		case isPermanent(err):
			return f.settle(ctx, fn, dlq, err)
		}
		if dlq {
			return fmt.Errorf("publish dead letter: %w", err)
		}
		return fmt.Errorf("publish result: %w", err)
	}
	for _, fn := range batch {
		m := nats.NewMsg(n.ResultPrefix + f.w.subjectToken(fn.e))
		m.Data = fn.payload
		injectTrace(fn.e, m.Header)
		if fn.e.format == contract.JSON {
			m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
		}
		if fn.result.ID != "" {
			m.Header.Set(contract.HeaderMsgID, contract.ResultMsgID(f.w.subjectToken(fn.e), fn.result.ID))
		}
		if err := publish(fn, m, false); err != nil {
			return err
		}
		if fn.dlq != "" && !fn.replay {
			// The dead letter carries an id of its own, so that writing a
			// batch again after a lost acknowledgement stores it once.
			if err := publish(fn, f.deadLetter(fn, true), true); err != nil {
				return err
			}
		}
	}
	for _, p := range pubs {
		select {
		case ack := <-p.fut.Ok():
			if p.dlq && !ack.Duplicate {
				f.w.met.deadLetters.WithLabelValues(f.lane, p.fn.result.Code).Inc()
			}
		case err := <-p.fut.Err():
			if !isPermanent(err) {
				return fmt.Errorf("publish result: %w", err)
			}
			if err := f.settle(ctx, p.fn, p.dlq, err); err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("publish result: %w", ctx.Err())
		}
	}
	// The reply subject is plain NATS: at most once per publication, and
	// published only once the result is stored.
	for _, fn := range batch {
		if fn.e.replyTo == "" {
			continue
		}
		// replyTo passed the reply policy (see command.go): a valid subject
		// of bounded length, within the allow-list.
		m := nats.NewMsg(fn.e.replyTo)
		m.Data = fn.payload
		injectTrace(fn.e, m.Header)
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
		fn.endCommand()
		f.w.log.Debug().Str("op", f.lane).Str("id", fn.result.ID).Str("code", fn.result.Code).Uint64("stream_seq", fn.e.seq).Msg("result")
	}
	return nil
}

// fit makes a result fit in one NATS message: data too large for one (a
// big read, a downloaded file) goes to the files bucket and a reference
// takes its place (see objects.go); without a bucket, or when the data is
// too large for it too, the result becomes RESULT_TOO_LARGE: a result
// that cannot be stored would be retried for ever, and the command never
// answered. An error is the bucket's: the batch is written again later.
//
// It also encodes the result once, for every publication of it.
func (f *finisher) fit(fn *final) error {
	if fn.fitted {
		return nil
	}
	if err := f.unpackArchive(fn); err != nil {
		return err
	}
	limit := f.limit()
	if m, isMap := fn.result.Data.(map[string]any); isMap && f.w.cfg.Files != nil {
		// A downloaded file larger than a message: stored without encoding
		// the whole result first, which would copy the file once more.
		if text, isText := m["fileData"].(string); isText && int64(len(text)) > limit {
			stored, err := f.storeLarge(fn)
			if err != nil {
				return err
			}
			if stored && int64(len(fn.payload)) <= limit {
				fn.fitted = true
				return nil
			}
		}
	}
	payload, err := contract.EncodeResult(fn.e.format, fn.result)
	if err == nil && int64(len(payload)) <= limit {
		fn.payload, fn.fitted = payload, true
		return nil
	}
	if err == nil {
		stored, serr := f.storeLarge(fn)
		if serr != nil {
			return serr
		}
		if stored && int64(len(fn.payload)) <= limit {
			fn.fitted = true
			return nil
		}
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
	fn.fitted = true
	return nil
}

// limit is the most bytes a result's payload may have: a NATS message
// less room for headers and the outcome record's own fields.
func (f *finisher) limit() int64 { return f.w.nc.MaxPayload() - 16<<10 }

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

// settle handles a write of fn refused for good: a dead letter is written
// again without the original payload and headers (only the worker's own
// headers, which always fit); a result is logged and given up, its outcome
// being recorded already.
func (f *finisher) settle(ctx context.Context, fn *final, dlq bool, cause error) error {
	if !dlq {
		f.w.log.Error().Err(cause).Str("op", f.lane).Str("id", fn.result.ID).Str("code", fn.result.Code).
			Msg("the result cannot be stored in the result stream; its outcome is recorded and answers redeliveries")
		return nil
	}
	f.w.log.Warn().Err(cause).Str("op", f.lane).Str("id", fn.result.ID).Msg("dead letter refused; writing it without the original message")
	if _, err := f.w.js.PublishMsg(ctx, f.deadLetter(fn, false)); err != nil {
		if isPermanent(err) {
			f.w.log.Error().Err(err).Str("op", f.lane).Str("id", fn.result.ID).Msg("dead letter cannot be written at all")
			return nil
		}
		return fmt.Errorf("publish dead letter: %w", err)
	}
	return nil
}

// isPermanent reports a write that can never succeed as it is: larger
// than the server's max payload or the stream's max message size, or a
// header the client cannot encode.
func isPermanent(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadHeaderMsg), errors.Is(err, nats.ErrBadSubject):
		return true
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
	}
	return false
}

// maxDeadLetterText bounds the worker's own header values in a dead letter.
const maxDeadLetterText = 1024

// deadLetter is the command's message with the reason it could not be
// processed: its payload (with secret fields redacted) and headers when
// original is set and as far as they fit in the server's max payload
// (what does not fit is cut, and headers say so), the worker's headers
// only otherwise.
func (f *finisher) deadLetter(fn *final, original bool) *nats.Msg {
	op := f.w.subjectToken(fn.e)
	m := nats.NewMsg(f.w.cfg.Names.DLQPrefix + op)
	m.Header.Set(contract.HeaderMsgID, "dlq."+contract.OutcomeKey(op, fn.result.ID)+"."+fn.result.Batch+"."+strconv.FormatUint(fn.e.seq, 10))
	m.Header.Set(contract.HeaderDLQReason, boundText(fn.dlq+": "+fn.result.Error, maxDeadLetterText))
	m.Header.Set(contract.HeaderDLQCode, fn.result.Code)
	m.Header.Set(contract.HeaderDLQSubject, boundText(fn.e.msg.Subject(), maxDeadLetterText))
	if !original {
		m.Header.Set(contract.HeaderDLQTruncated, "payload and headers left out")
		return m
	}
	room := int(f.w.nc.MaxPayload()) - headerBytes(m.Header) - 256 // 256: the truncation headers below
	orig := fn.e.msg.Headers()
	keys := make([]string, 0, len(orig))
	for k := range orig {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dropped := 0
	for _, k := range keys {
		if k == contract.HeaderMsgID {
			continue // replaced by the dead letter's own id
		}
		for _, v := range orig[k] {
			if size := len(k) + len(v) + 4; size <= room {
				m.Header.Add(k, v)
				room -= size
			} else {
				dropped++
			}
		}
	}
	data := f.w.redact(fn.e)
	if len(data) > room {
		m.Header.Set(contract.HeaderDLQTruncated, fmt.Sprintf("payload cut to %d of %d bytes", max(room, 0), len(data)))
		data = data[:max(room, 0)]
	}
	if dropped > 0 {
		m.Header.Set(contract.HeaderDLQHeadersDropped, strconv.Itoa(dropped))
	}
	m.Data = data
	return m
}

// headerBytes is the size of h on the wire, near enough for a budget.
func headerBytes(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
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
