package enqueue

import (
	"context"
	"sync"
	"time"
)

// estimateTimeout bounds the ledger reads of one estimate.
const estimateTimeout = 5 * time.Second

// startProgress starts, as the run has them, the refresh of the bars
// (every ProgressEvery) and the estimate (every EstimateEvery), until
// the returned stop is called: it draws the bars a last time and leaves
// the terminal to the lines that follow. stop may be called more than
// once.
func (r *publishRun) startProgress(ctx context.Context) (stop func()) {
	if r.disp == nil && r.est == nil {
		return func() {}
	}
	quit := make(chan struct{})
	ectx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if r.disp != nil {
		wg.Go(func() {
			t := time.NewTicker(r.cl.cfg.ProgressEvery)
			defer t.Stop()
			for {
				r.disp.update(r.counts())
				select {
				case <-t.C:
				case <-quit:
					return
				}
			}
		})
	}
	if r.est != nil {
		wg.Go(func() { r.estimateLoop(ectx, quit) })
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			cancel()
			wg.Wait()
			if r.disp != nil {
				r.disp.update(r.counts())
				r.disp.stop()
			}
		})
	}
}

// estimateLoop estimates the run every EstimateEvery once it has
// commands (until then as often as the bars are drawn, so that the first
// estimate comes with the first commands), and hands each estimate to
// the bars and to OnEstimate.
func (r *publishRun) estimateLoop(ctx context.Context, quit <-chan struct{}) {
	every := min(r.cl.cfg.ProgressEvery, r.cl.cfg.EstimateEvery)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-quit:
			return
		}
		if left := r.left(); len(left) > 0 {
			every = r.cl.cfg.EstimateEvery
			rctx, cancel := context.WithTimeout(ctx, estimateTimeout)
			e := r.est.estimate(rctx, left)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if r.disp != nil {
				r.disp.setEstimate(e)
			}
			if f := r.cl.cfg.OnEstimate; f != nil {
				f(e)
			}
		}
		t.Reset(every)
	}
}

// counts returns what the bars show now.
func (r *publishRun) counts() counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := counts{published: r.sum.Published + r.sum.Duplicates, total: r.total, results: r.sum.Results, sent: r.sent}
	c.expected = r.sum.Commands - r.lost
	if !r.sent && r.total > 0 {
		// Still publishing: the source's commands not read yet will
		// have results too.
		c.expected = max(c.expected, r.total-r.sum.Malformed-r.lost)
	}
	return c
}

// left returns the run's commands still without a result, by operation,
// with the estimator's calls answered as of the same moment. Commands
// not read from the source yet are taken to be of the operations read so
// far, in the same shares, and to come at the rate the source has been
// read at.
func (r *publishRun) left() map[string]backlog {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]backlog, len(r.waiting))
	for op, n := range r.waiting {
		a, p := r.est.answers(op)
		out[op] = backlog{waiting: n, answered: a, partial: p}
	}
	unread := r.total - r.read
	elapsed := r.cl.cfg.Now().Sub(r.start).Seconds()
	if unread <= 0 || r.sum.Commands == 0 || elapsed <= 0 {
		return out
	}
	rate := float64(r.read) / elapsed
	for op, n := range r.byOp {
		b := out[op]
		b.coming = unread * n / r.sum.Commands
		b.arrival = rate * float64(n) / float64(r.sum.Commands)
		out[op] = b
	}
	return out
}
