package connect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Loader publishes commands in the order it is given them, with a
// bounded number of publishes awaiting the stream's acknowledgement at
// once, and queues the results of those it waits for. It is for a
// producer whose order matters (the worker applies the commands of one
// object in publish order) and that must know of each publish as the
// stream stores it: the enqueue command. Submit and Bulk publish from
// several goroutines and retry a failed publish, so their commands may
// be stored in another order; a Loader writes them in order and does
// not retry (a retry would land after later commands): a failed publish
// is reported, and publishing it again with the same id is safe.
//
// Publish is called from one goroutine; Stored, Next and Close may be
// called from others. Close it before closing its client.
type Loader struct {
	c  *Client
	js jetstream.JetStream // its own: the async bound is the loader's
	q  *queue
}

// NewLoader makes a loader on c with at most inFlight publishes awaiting
// acknowledgement (Publish blocks meanwhile); each waits at most the
// client's publish timeout (WithPublishTimeout).
func (c *Client) NewLoader(inFlight int) (*Loader, error) {
	if inFlight <= 0 {
		return nil, fmt.Errorf("connect: loader: in flight %d: want a positive count", inFlight)
	}
	js, err := jetstream.New(c.nc,
		jetstream.WithPublishAsyncMaxPending(inFlight),
		jetstream.WithPublishAsyncTimeout(c.cfg.publishTimeout))
	if err != nil {
		return nil, fmt.Errorf("connect: loader: %w", err)
	}
	return &Loader{c: c, js: js, q: newQueue()}, nil
}

// Loaded is a command a Loader has published, its acknowledgement
// perhaps still to come.
type Loaded struct {
	// ID and Op name the command.
	ID, Op string
	f      jetstream.PubAckFuture
	p      *Pending // nil when nobody waits for the result
}

// Publish publishes cmd after every command published before it. With
// wait, the command carries the client's reply subject and its result
// is queued for Next once Stored has seen it stored; without, it carries
// none, and its result is only stored by the worker (Lookup reads it).
// A local refusal (an invalid id, a payload too large) is a
// *ResultError with Local set, and nothing is published.
func (l *Loader) Publish(ctx context.Context, cmd Command, wait bool) (*Loaded, error) {
	if cmd.Op == nil {
		return nil, errors.New("connect: nil operation")
	}
	if cmd.ID == "" {
		l.c.mu.Lock()
		cmd.ID = l.c.ids.Next()
		l.c.mu.Unlock()
	}
	msg, err := l.c.message(ctx, cmd)
	if err != nil {
		return nil, err
	}
	ld := &Loaded{ID: cmd.ID, Op: cmd.Op.OperationName()}
	if wait {
		// Registered before the publish: the worker may answer before
		// the acknowledgement comes.
		if ld.p, err = l.c.register(ld.ID, ld.Op, l.q); err != nil {
			return nil, err
		}
		l.q.track(ld.p)
		msg.Header.Set(contract.HeaderReplyTo, l.c.base+"."+ld.p.token)
	}
	for {
		ld.f, err = l.js.PublishMsgAsync(msg)
		// PublishMsgAsync has waited its stall time when too many are in
		// flight: try again unless the caller gave up.
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
			break
		}
	}
	if err == nil {
		return ld, nil
	}
	if ld.p != nil {
		ld.p.forget()
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return nil, fmt.Errorf("connect: publish %s %s: %w", ld.Op, ld.ID, err)
}

// Stored waits for the stream's acknowledgement of the command: whether
// the stream had its id already (an earlier publish of it was stored, so
// this one was dropped and the result is the first one's, read from the
// outcome bucket), or why it was not stored (its result is then not
// waited for).
func (l *Loader) Stored(ctx context.Context, ld *Loaded) (duplicate bool, err error) {
	select {
	case ack := <-ld.f.Ok():
		if ld.p != nil {
			// From now on a missing reply is looked for in the outcome
			// bucket, at once for a duplicate.
			ld.p.duplicate = ack.Duplicate
			l.c.published(ld.p, time.Now())
		}
		return ack.Duplicate, nil
	case err = <-ld.f.Err():
	case <-ctx.Done():
		err = ctx.Err()
	}
	if ld.p != nil {
		ld.p.forget()
	}
	return false, fmt.Errorf("connect: publish %s %s: %w", ld.Op, ld.ID, err)
}

// Next waits until results of the loader's commands have come and
// returns them in the order they came, or returns ctx's error.
func (l *Loader) Next(ctx context.Context) ([]Reply, error) {
	for {
		l.q.mu.Lock()
		ready := l.q.items
		l.q.items = nil
		l.q.mu.Unlock()
		if len(ready) > 0 {
			return ready, nil
		}
		select {
		case <-l.q.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close stops waiting for the results that have not come: they stay in
// the outcome bucket. Results already queued are dropped.
func (l *Loader) Close() {
	l.q.forgetAll()
}
