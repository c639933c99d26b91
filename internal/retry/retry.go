// Package retry is the one way this module tries a failing step again: a
// capped, jittered exponential backoff (github.com/cenkalti/backoff/v4)
// whose waits run on a clock.Clock and end with their context.
//
// Do retries a step until it succeeds, its context ends, it returns an
// error marked Permanent, or a bound on attempts is reached. A loop that
// must do its own work between attempts (mark a deadline, serve other
// events) takes a Backoff for the waits and Sleep for waiting one out.
//
// Invariants: nothing here calls time.Sleep or time.After; every wait is a
// timer of the given clock, stopped when its context ends, so a test in a
// testing/synctest bubble sees exact waits. Do returns as soon as its
// context ends, before an attempt or during a wait (an attempt under way
// is op's to cut short, through the context it gets). Nothing here starts
// a goroutine.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/onec-connect/connect-bridge/internal/clock"
)

// Policy says how often and for how long a step is tried again. The zero
// Policy retries without end, waiting 100ms, then twice as long after each
// failure up to 5s, each wait jittered by ±20%.
type Policy struct {
	// Initial is the wait after the first failure. Defaults to 100ms.
	Initial time.Duration
	// Max caps the wait before jitter (a wait is at most Max×(1+Jitter)).
	// Defaults to 5s, or Initial when that is longer.
	Max time.Duration
	// Multiplier grows the wait after each failure. Defaults to 2; at
	// least 1.
	Multiplier float64
	// Jitter is the share by which each wait is drawn at random around
	// its value, so that replicas failing together do not retry together:
	// a wait w is drawn from [w×(1−Jitter), w×(1+Jitter)]. Defaults to
	// 0.2; negative means none (exact waits); at most 1.
	Jitter float64
	// Attempts bounds the attempts of Do, the first included; 0 means no
	// bound.
	Attempts int
	// OnRetry, when set, is called by Do after each failed attempt that
	// will be tried again: the attempt's error, its number (1 for the
	// first) and the wait before the next. It is where a caller logs.
	OnRetry func(err error, attempt int, wait time.Duration)
}

// withDefaults fills zero fields and checks the rest.
func (p Policy) withDefaults() (Policy, error) {
	switch {
	case p.Initial < 0, p.Max < 0:
		return p, fmt.Errorf("retry: policy: negative wait (initial %s, max %s)", p.Initial, p.Max)
	case p.Multiplier != 0 && p.Multiplier < 1:
		return p, fmt.Errorf("retry: policy: multiplier %v is below 1", p.Multiplier)
	case p.Jitter > 1:
		return p, fmt.Errorf("retry: policy: jitter %v is above 1", p.Jitter)
	case p.Attempts < 0:
		return p, fmt.Errorf("retry: policy: negative attempts %d", p.Attempts)
	}
	if p.Initial == 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max == 0 {
		p.Max = max(5*time.Second, p.Initial)
	}
	if p.Max < p.Initial {
		return p, fmt.Errorf("retry: policy: max %s is below initial %s", p.Max, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = 2
	}
	if p.Jitter == 0 {
		p.Jitter = 0.2
	}
	if p.Jitter < 0 {
		p.Jitter = 0
	}
	return p, nil
}

// Backoff is the sequence of waits of a Policy, for a loop that waits in
// its own way: Next gives the wait after one more failure, Reset starts
// again after a success. It ignores Attempts and OnRetry. A Backoff is not
// safe for concurrent use.
type Backoff struct {
	b backoff.ExponentialBackOff
}

// NewBackoff returns the waits of p, or an error naming what is wrong
// with p.
func NewBackoff(p Policy) (*Backoff, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	return newBackoff(p), nil
}

// newBackoff returns the waits of a defaulted p.
func newBackoff(p Policy) *Backoff {
	b := &Backoff{b: backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.Max,
		// No bound on the elapsed time: Do bounds attempts, its context
		// bounds time. The library's clock then only stamps Reset.
		MaxElapsedTime: 0,
		Stop:           backoff.Stop,
		Clock:          backoff.SystemClock,
	}}
	b.b.Reset()
	return b
}

// Next returns the wait after one more failure.
func (b *Backoff) Next() time.Duration { return b.b.NextBackOff() }

// Reset makes the next wait the policy's Initial again.
func (b *Backoff) Reset() { b.b.Reset() }

// Sleep waits d on clk (nil: clock.Real), or until ctx ends. It returns
// nil when the wait is over and context.Cause(ctx) when ctx ended first.
// A d of zero or less does not wait.
func Sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}
	t := clock.Or(clk).NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C():
		return nil
	}
}

// Permanent marks err as not worth trying again: Do returns it at once.
// It returns nil for a nil err.
func Permanent(err error) error { return backoff.Permanent(err) }

// Do runs op until it returns nil, waiting between attempts as p says on
// clk (nil: clock.Real). op gets ctx, to bound its own work by.
//
// It returns nil once op succeeds. It stops and returns, without waiting:
//   - an error marked Permanent (unmarked, when op returned the mark
//     itself; as op returned it, when the mark is wrapped inside);
//   - op's last error when p.Attempts is reached;
//   - when ctx ends, before an attempt or during a wait, an error that is
//     both context.Cause(ctx) and op's last error for errors.Is, so that a
//     caller can tell shutdown apart and still report why it was retrying.
//
// A bad Policy is returned as an error before any attempt.
func Do(ctx context.Context, clk clock.Clock, p Policy, op func(ctx context.Context) error) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	b := newBackoff(p)
	var last error
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return stopped(last, context.Cause(ctx))
		}
		err := op(ctx)
		if err == nil {
			return nil
		}
		if perm, ok := err.(*backoff.PermanentError); ok {
			return perm.Err
		}
		if errors.Is(err, &backoff.PermanentError{}) {
			return err
		}
		last = err
		if p.Attempts > 0 && attempt >= p.Attempts {
			return err
		}
		if ctx.Err() != nil {
			return stopped(last, context.Cause(ctx))
		}
		wait := b.Next()
		if p.OnRetry != nil {
			p.OnRetry(err, attempt, wait)
		}
		if cause := Sleep(ctx, clk, wait); cause != nil {
			return stopped(last, cause)
		}
	}
}

// stopped is Do's error when its context ended: the cause, and the last
// attempt's error (if any) that says why Do was still retrying.
func stopped(last, cause error) error {
	switch {
	case last == nil:
		return cause
	case errors.Is(last, cause):
		return last
	}
	return fmt.Errorf("%w (retrying stopped: %w)", last, cause)
}
