package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/retry"
)

// maxFetch bounds the commands one fetch asks for.
const maxFetch = 256

// fetch pulls commands while the lane has room for them, until ctx ends.
func (l *lane) fetch(ctx context.Context) {
	group := l.w.cfg.Names.PriorityGroup
	for ctx.Err() == nil {
		if l.pause.Load() {
			if !l.sleep(ctx, l.w.cfg.FetchWait, l.wake) {
				return
			}
			continue
		}
		// Bytes: fetch no more commands than the lane's and the process's
		// budgets could hold were each of the largest size the command
		// stream accepts. (A fetch bounded in bytes, FetchMaxBytes, would
		// be exact, but on a clustered stream the server then answers
		// each pull only at its expiry.)
		room, freed := l.cap.bytes.free()
		fit := int(room / l.w.maxCost)
		if fit < 1 {
			select {
			case <-freed:
			case <-ctx.Done():
				return
			}
			continue
		}
		n := l.cap.acquire(ctx, min(maxFetch, fit))
		if n == 0 {
			return
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
		batch, err := l.src.Fetch(n, opts...)
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
		l.cap.unused(n - got)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) &&
			!errors.Is(err, jetstream.ErrPinIDMismatch) && ctx.Err() == nil {
			l.log.Debug().Err(err).Msg("fetch")
			if !l.sleep(ctx, time.Second, nil) { // NATS unreachable: try again shortly
				return
			}
		}
	}
}

// sleep waits d on the lane's clock, or until wake has something; false
// when ctx ended first.
func (l *lane) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if wake == nil {
		return retry.Sleep(ctx, l.clock, d) == nil
	}
	t := l.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}

// lookupRetry looks commands up until the bucket answers or ctx ends,
// with backoff: the fetcher waits meanwhile, so no later command
// overtakes these.
func (l *lane) lookupRetry(ctx context.Context, es []*entry) ([]*record, error) {
	var recs []*record
	err := retry.Do(ctx, l.clock, retry.Policy{
		Initial: 100 * time.Millisecond, Max: 2 * time.Second,
		OnRetry: func(err error, _ int, wait time.Duration) {
			l.log.Warn().Err(err).Dur("retry_in", wait).Msg("outcome bucket unavailable; looking the commands up again")
		},
	}, func(context.Context) error {
		// Not the fetcher's context: a lookup under way at shutdown is
		// finished, the commands then handed back by the lane.
		var err error
		recs, err = l.w.outcomes.lookup(context.Background(), es)
		l.w.outcomeState(err)
		return err
	})
	return recs, err
}

// prepare decodes fetched commands, answers the ones that are invalid or
// already finished, and hands the rest to the loop in stream order.
func (l *lane) prepare(ctx context.Context, msgs []jetstream.Msg) {
	now := l.clock.Now()
	entries := make([]*entry, len(msgs))
	finals := make([]*final, len(msgs))
	for i, m := range msgs {
		// Charged before decoding: decoding is what takes the memory.
		cost := commandCost(m)
		l.cap.bytes.charge(cost)
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
				l.cap.release(e)
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
	// Both hand-overs complete even during shutdown: the sink runs until
	// the lane closes its input, and the lane takes (and hands back) what
	// the fetcher brings until the fetcher is done.
	if len(answered) > 0 {
		l.fin <- answered
	}
	if len(valid) > 0 {
		l.in <- valid
	}
}
