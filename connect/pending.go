package connect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Pending is a published command waiting for its result.
type Pending struct {
	c     *Client
	id    string
	op    string
	token string // the last token of its reply subject
	// notify, when set, is told once the result is in (Bulk).
	notify *queue

	once sync.Once
	done chan struct{} // closed once res and err are set
	res  Result
	err  error

	// Guarded by c.mu: when the outcome bucket is next read for the
	// result (zero until published), and the wait before the one after.
	nextCheck time.Time
	backoff   time.Duration
	// Duplicate is set by publish when the stream already had a command
	// with this id (a retry of a publish that had been stored).
	duplicate bool
}

// ID returns the command's id.
func (p *Pending) ID() string { return p.id }

// Op returns the command's operation.
func (p *Pending) Op() string { return p.op }

// Duplicate reports whether the stream already held a command with this
// id when it was published: an earlier publish of it (one whose
// acknowledgement was lost, or a call made again with the same WithID)
// had been stored, so this one was dropped and the result is the first
// one's.
func (p *Pending) Duplicate() bool { return p.duplicate }

// Wait returns the command's result, as Do does: the error is the
// result's *ResultError when its code is not SUCCESS, ErrClosed when
// the client was closed first, or ctx's error. Wait may be called again
// after ctx ended, and by several goroutines.
func (p *Pending) Wait(ctx context.Context) (Result, error) {
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// resolve sets the result once and tells whoever waits.
func (p *Pending) resolve(res Result, err error) {
	p.once.Do(func() {
		p.res, p.err = res, err
		close(p.done)
		if p.notify != nil {
			p.notify.push(p)
		}
	})
}

// forget stops waiting for the result: a reply that comes later is
// dropped.
func (p *Pending) forget() {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.waiting[p.token] == p {
		delete(p.c.waiting, p.token)
	}
}

// register makes the pending of a command about to be published, so
// that its reply is recognised however soon it comes.
func (c *Client) register(id, op string, notify *queue) (*Pending, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.seq++
	p := &Pending{c: c, id: id, op: op, token: strconv.FormatUint(c.seq, 36), notify: notify, done: make(chan struct{})}
	c.waiting[p.token] = p
	return p, nil
}

// published starts the reply timeout of p. A duplicate was stored by an
// earlier publish whose reply may have gone while nobody listened: its
// result is looked for at once.
func (c *Client) published(p *Pending, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.backoff = c.cfg.replyTimeout
	p.nextCheck = now.Add(p.backoff)
	if p.duplicate {
		p.nextCheck = now
		select {
		case c.soon <- struct{}{}:
		default: // the watcher is woken already
		}
	}
}

// onReply handles a message on the client's reply subjects. It is
// hostile until proven otherwise: decoded within the contract's bounds,
// it must carry the id and operation of the command its subject names.
func (c *Client) onReply(m *nats.Msg) {
	token := m.Subject[len(c.base)+1:]
	c.mu.Lock()
	p := c.waiting[token]
	c.mu.Unlock()
	if p == nil {
		return // late, a duplicate, or not ours
	}
	r, err := contract.DecodeResult(m.Data)
	if err != nil || r.ID != p.id || r.Op != p.op {
		return
	}
	c.finish(p, fromContract(r, false))
}

// finish resolves p with res and drops it from the waiting set.
func (c *Client) finish(p *Pending, res Result) {
	p.forget()
	p.resolve(res, resultError(res))
}

// watch is the client's one goroutine: after a reconnection it reads the
// result of every waiting command from the outcome bucket (their replies
// may have been published while the connection was down), and it reads
// those whose reply timeout passed.
func (c *Client) watch(ctx context.Context) {
	defer close(c.done)
	every := max(c.cfg.replyTimeout/4, time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.status:
			c.recheck(ctx, time.Time{})
		case <-c.soon:
			c.recheck(ctx, time.Now())
		case now := <-tick.C:
			c.recheck(ctx, now)
		}
	}
}

// recheckers bounds the outcome reads in flight at once.
const recheckers = 16

// recheck reads from the outcome bucket the results of the published
// commands whose check is due at now (every one when now is zero), and
// resolves those that are final; the others are read again later, after
// twice the wait.
func (c *Client) recheck(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due []*Pending
	for _, p := range c.waiting {
		if !p.nextCheck.IsZero() && (now.IsZero() || !now.Before(p.nextCheck)) {
			due = append(due, p)
		}
	}
	c.mu.Unlock()
	if len(due) == 0 {
		return
	}
	kv, err := c.outcomes(ctx)
	if err != nil {
		c.later(due)
		return // no bucket yet: no worker has run; wait for replies
	}
	work := make(chan *Pending)
	var wg sync.WaitGroup
	for range min(recheckers, len(due)) {
		wg.Go(func() {
			for p := range work {
				if res, ok := c.stored(ctx, kv, p); ok {
					c.finish(p, res)
				} else {
					c.later([]*Pending{p})
				}
			}
		})
	}
	for _, p := range due {
		select {
		case work <- p:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// later pushes the next check of ps back, doubling its wait.
func (c *Client) later(ps []*Pending) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, p := range ps {
		p.backoff = min(2*p.backoff, c.cfg.recheckMax)
		p.nextCheck = now.Add(p.backoff)
	}
}

// stored reads p's final result from the outcome bucket.
func (c *Client) stored(ctx context.Context, kv jetstream.KeyValue, p *Pending) (Result, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.publishTimeout)
	defer cancel()
	e, err := kv.Get(ctx, contract.OutcomeKey(p.op, p.id))
	if err != nil {
		return Result{}, false // not there yet (jetstream.ErrKeyNotFound), or unreachable
	}
	o, err := contract.DecodeOutcome(e.Value())
	if err != nil || o.State != contract.StateFinal {
		return Result{}, false
	}
	r := *o.Result
	// The key names the command; a record whose result lost its id or
	// operation still answers for it.
	r.ID, r.Op = p.id, p.op
	return fromContract(r, true), true
}

// Lookup reads the final result of the command op/id from the outcome
// bucket, e.g. after Do returned because its context ended. The error is
// ErrNoResult when there is none yet (the command waits, or never came;
// ErrNotFinal, which is an ErrNoResult, when it is recorded as sent),
// else as Do's.
func (c *Client) Lookup(ctx context.Context, op, id string) (Result, error) {
	if err := contract.ValidID(id); err != nil {
		return Result{}, fmt.Errorf("connect: lookup: %w", err)
	}
	kv, err := c.outcomes(ctx)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Result{}, ErrNoResult
	}
	if err != nil {
		return Result{}, fmt.Errorf("connect: lookup %s %s: %w", op, id, err)
	}
	e, err := kv.Get(ctx, contract.OutcomeKey(op, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Result{}, ErrNoResult
	}
	if err != nil {
		return Result{}, fmt.Errorf("connect: lookup %s %s: %w", op, id, err)
	}
	o, err := contract.DecodeOutcome(e.Value())
	if err != nil {
		return Result{}, fmt.Errorf("connect: lookup %s %s: %w", op, id, err)
	}
	if o.State != contract.StateFinal {
		return Result{}, ErrNotFinal
	}
	r := *o.Result
	r.ID, r.Op = id, op
	res := fromContract(r, true)
	return res, res.Err()
}
