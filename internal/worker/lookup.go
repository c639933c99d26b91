package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/batcher"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/lastmsg"
)

// outcomeStore is the outcome bucket as the lanes use it: natsOutcomes,
// or a fake in tests.
type outcomeStore interface {
	// lookup reads the records of es's commands, one element per entry,
	// nil where there is none.
	lookup(ctx context.Context, es []*entry) ([]*record, error)
	// markSent records that items are being sent in call batch; lost are
	// the indexes of the commands another delivery marked first.
	markSent(ctx context.Context, op, batch string, items []batcher.Item[*entry]) (lost []int, err error)
}

// natsOutcomes is the outcome bucket on JetStream.
type natsOutcomes struct{ w *Worker }

func (o natsOutcomes) lookup(ctx context.Context, es []*entry) ([]*record, error) {
	return o.w.lookupMany(ctx, es)
}

func (o natsOutcomes) markSent(ctx context.Context, op, batch string, items []batcher.Item[*entry]) ([]int, error) {
	return o.w.markSent(ctx, op, batch, items)
}

// record is what the outcome bucket holds for one command.
type record struct {
	outcome  contract.Outcome
	revision uint64
}

// lookupMany reads the outcome records of entries' commands in one
// request per lastmsg.MaxSubjects keys (see package lastmsg). Commands
// without a record — nearly all of them — cost nothing in the answer. The
// result has one element per entry, nil where there is no record.
func (w *Worker) lookupMany(ctx context.Context, entries []*entry) ([]*record, error) {
	subjects := make([]string, len(entries))
	for i, e := range entries {
		subjects[i] = w.kvSubject(contract.OutcomeKey(e.op, e.cmd.ID))
	}
	got, err := lastmsg.Get(ctx, w.nc, w.kvStream, subjects)
	if err != nil {
		return nil, fmt.Errorf("look outcomes up: %w", err)
	}
	out := make([]*record, len(entries))
	for i, subject := range subjects {
		m, ok := got[subject]
		if !ok || m.Deleted {
			continue
		}
		o, err := contract.DecodeOutcome(m.Data)
		if err != nil {
			// Not a record this worker wrote: it says nothing about the
			// command, which goes on as new.
			w.log.Warn().Err(err).Str("subject", subject).Msg("unreadable outcome record ignored")
			continue
		}
		out[i] = &record{outcome: o, revision: m.Seq}
	}
	return out, nil
}

// answer turns a command's record into its final result, if the record
// decides it: a final result is published again; a command that a worker
// sent and then died before the answer ends with UNKNOWN_OUTCOME unless the
// operation may be retried. nil means the command goes on.
func (w *Worker) answer(e *entry, rec *record, retryUnknown bool, now time.Time) *final {
	if rec == nil {
		return nil
	}
	e.outcomeRev = rec.revision
	if rec.outcome.State == contract.StateFinal {
		return &final{e: e, result: *rec.outcome.Result, replay: true}
	}
	if retryUnknown {
		return nil
	}
	fn := e.fail(contract.CodeUnknownOutcome,
		"a worker sent this command in call "+rec.outcome.Batch+" and stopped before the answer; it may have been processed", now,
		"outcome unknown after a worker stopped")
	fn.result.Batch = rec.outcome.Batch
	return fn
}

// markSent records, before a call that is not safe to repeat, that its
// commands are being sent. Each record is written only over the one the
// command's lookup saw (none, as a rule): a command whose record changed
// since (another delivery of it, in another call, got there first) is
// lost to this call and must not be sent by it; lost holds the indexes of
// those. An error means nothing may be sent.
func (w *Worker) markSent(ctx context.Context, op, batch string, items []batcher.Item[*entry]) (lost []int, err error) {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	rec, err := contract.EncodeOutcome(contract.Outcome{State: contract.StateSent, Batch: batch})
	if err != nil {
		return nil, err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(items))
	for _, it := range items {
		m := nats.NewMsg(w.kvSubject(contract.OutcomeKey(op, it.Value.cmd.ID)))
		m.Data = rec
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(it.Value.outcomeRev, 10))
		fut, err := w.js.PublishMsgAsync(m)
		if err != nil {
			return nil, fmt.Errorf("record the call before sending it: %w", err)
		}
		futures = append(futures, fut)
	}
	for i, fut := range futures {
		select {
		case ack := <-fut.Ok():
			// The final outcome is later written over this record only.
			items[i].Value.outcomeRev = ack.Sequence
		case err := <-fut.Err():
			if !isWrongLastSequence(err) {
				return nil, fmt.Errorf("record the call before sending it: %w", err)
			}
			lost = append(lost, i)
		case <-ctx.Done():
			return nil, fmt.Errorf("record the call before sending it: %w", ctx.Err())
		}
	}
	return lost, nil
}
