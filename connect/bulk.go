package connect

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// BulkOption configures Bulk.
type BulkOption func(*bulkConfig) error

type bulkConfig struct {
	inFlight   int
	maxWaiting int
}

// WithInFlight bounds the publishes of a Bulk awaiting the stream's
// acknowledgement at once. Defaults to 64.
func WithInFlight(n int) BulkOption {
	return func(c *bulkConfig) error {
		if n <= 0 {
			return fmt.Errorf("connect: in flight %d: want a positive count", n)
		}
		c.inFlight = n
		return nil
	}
}

// WithMaxWaiting bounds the commands of a Bulk published and waiting for
// their results: Bulk publishes no more until results come, so that its
// memory stays bounded however many commands the sequence yields.
// Defaults to 10,000.
func WithMaxWaiting(n int) BulkOption {
	return func(c *bulkConfig) error {
		if n <= 0 {
			return fmt.Errorf("connect: max waiting %d: want a positive count", n)
		}
		c.maxWaiting = n
		return nil
	}
}

// Reply is the outcome of one command of a Bulk.
type Reply struct {
	// ID and Op name the command.
	ID, Op string
	// Result is its result, when it has one.
	Result Result
	// Err is nil on SUCCESS, the result's *ResultError for another code,
	// or why the command was not published (a local refusal, a publish
	// that failed for good).
	Err error
}

// BulkSummary counts what a Bulk did.
type BulkSummary struct {
	// Commands is how many the sequence yielded; Replies how many were
	// handed to the callback (all of them unless ctx ended).
	Commands, Replies int
	// Published is how many the stream stored (Duplicates of them were
	// already there); Refused were not published at all.
	Published, Duplicates, Refused int
	// PeakInFlight is the most publishes that awaited their
	// acknowledgement at once: at most WithInFlight.
	PeakInFlight int
	// Elapsed is the time from the start to the last reply.
	Elapsed time.Duration
}

// Bulk publishes every command of cmds, with at most WithInFlight
// publishes awaiting acknowledgement and at most WithMaxWaiting commands
// awaiting results, and calls each with every command's Reply as it
// comes (in no set order), from the goroutine that called Bulk, one at a
// time. It returns once every command has its reply, or when ctx ends
// (the summary then says how far it got; the commands published go on
// and their results stay in the outcome bucket). A command ids are
// generated for keeps its id across retries of its publish, as in Do.
//
// Publishes run concurrently and are retried on their own, so the stream
// may store two commands in another order than cmds gives them: for a
// sequence of edits of the same objects, whose order the worker keeps,
// use a Loader (NewLoader), which publishes in order.
func (c *Client) Bulk(ctx context.Context, cmds iter.Seq[Command], each func(Reply), opts ...BulkOption) (BulkSummary, error) {
	cfg := bulkConfig{inFlight: 64, maxWaiting: 10_000}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return BulkSummary{}, err
		}
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	q := newQueue()
	slots := make(chan struct{}, cfg.maxWaiting) // one per command not yet replied to
	work := make(chan Command)
	var fed atomic.Int64
	fedAll := make(chan struct{})
	var feedWG sync.WaitGroup
	feedWG.Go(func() {
		defer close(fedAll)
		defer close(work)
		for cmd := range cmds {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			fed.Add(1)
			select {
			case work <- cmd:
			case <-ctx.Done():
				return
			}
		}
	})
	var inFlight, peak atomic.Int64
	var published, dups, refused atomic.Int64
	var pubWG sync.WaitGroup
	for range cfg.inFlight {
		pubWG.Go(func() {
			for cmd := range work {
				n := inFlight.Add(1)
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
				p, err := c.submit(ctx, cmd, q)
				inFlight.Add(-1)
				if err != nil {
					id, op := cmd.ID, ""
					if cmd.Op != nil {
						op = cmd.Op.OperationName()
					}
					refused.Add(1)
					q.pushReply(Reply{ID: id, Op: op, Err: err})
					continue
				}
				q.track(p)
				published.Add(1)
				if p.Duplicate() {
					dups.Add(1)
				}
			}
		})
	}

	var sum BulkSummary
	var err error
	feeding := fedAll // nil once the sequence is done, so the select below stops firing on it
	for {
		q.mu.Lock()
		ready := q.items
		q.items = nil
		q.mu.Unlock()
		for _, r := range ready {
			each(r)
			sum.Replies++
			<-slots
		}
		if isClosed(fedAll) {
			if int64(sum.Replies) == fed.Load() {
				break
			}
			feeding = nil
		}
		select {
		case <-q.signal:
		case <-feeding:
		case <-ctx.Done():
			err = fmt.Errorf("connect: bulk: %w", ctx.Err())
		}
		if err != nil {
			break
		}
	}
	cancel()
	pubWG.Wait()
	feedWG.Wait()
	if err != nil {
		// Stop waiting for the rest: their results stay in the bucket.
		q.forgetAll()
	}
	sum.Commands = int(fed.Load())
	sum.Published, sum.Duplicates, sum.Refused = int(published.Load()), int(dups.Load()), int(refused.Load())
	sum.PeakInFlight = int(peak.Load())
	sum.Elapsed = time.Since(start)
	return sum, err
}

// isClosed reports whether ch is closed, without blocking.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// queue collects the replies of a Bulk as their results come, from any
// goroutine, without ever blocking the one that delivers them (the
// connection's reply handler).
type queue struct {
	mu      sync.Mutex // protects items, pending
	items   []Reply
	pending map[*Pending]struct{} // published, not yet replied to
	signal  chan struct{}         // one token: items were added
}

func newQueue() *queue {
	return &queue{pending: map[*Pending]struct{}{}, signal: make(chan struct{}, 1)}
}

// track notes a published command whose reply has not been queued.
func (q *queue) track(p *Pending) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !isClosed(p.done) {
		q.pending[p] = struct{}{}
	}
}

// push queues the reply of a resolved pending.
func (q *queue) push(p *Pending) {
	q.mu.Lock()
	delete(q.pending, p)
	q.mu.Unlock()
	q.pushReply(Reply{ID: p.id, Op: p.op, Result: p.res, Err: p.err})
}

func (q *queue) pushReply(r Reply) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// forgetAll stops waiting for the results of the commands still
// tracked: a cancelled Bulk leaves nothing registered in the client.
func (q *queue) forgetAll() {
	q.mu.Lock()
	ps := make([]*Pending, 0, len(q.pending))
	for p := range q.pending {
		ps = append(ps, p)
	}
	q.pending = map[*Pending]struct{}{}
	q.mu.Unlock()
	for _, p := range ps {
		p.forget()
	}
}
