package quota

import (
	"context"
	"sync"
	"time"
)

// Grant is a limiter's answer to a request for one call.
type Grant struct {
	// OK means the call may be made now; it has been counted.
	OK bool
	// RetryAt is when to ask again, when OK is false.
	RetryAt time.Time
	// Limit is the operation's calls in this window, Used how many have
	// been granted (this one included); the window runs from Start to
	// Reset.
	Limit, Used  int
	Start, Reset time.Time
}

// Remaining returns the calls left in the window after this grant.
func (g Grant) Remaining() int { return max(0, g.Limit-g.Used) }

// Config configures a limiter.
type Config struct {
	Windows Windows
	Limits  Limits
}

// Local is a limiter for one process: it keeps the ledger in memory. With
// several replicas each would spend the whole limit; Shared is the
// limiter for that.
type Local struct {
	w Windows
	l Limits

	mu sync.Mutex // protects ops, account
	// ops is the ledger of the current window per operation.
	ops map[string]*ledger
	// account counts every operation's calls for the account cap.
	account ledger
}

// ledger counts the calls of one window.
type ledger struct {
	start     time.Time // the window's start
	used      int
	exhausted bool // the API answered OUT_OF_LIMIT in this window
}

// roll resets l when t is in a later window than the one it counts.
func (l *ledger) roll(start time.Time) {
	if !l.start.Equal(start) {
		*l = ledger{start: start}
	}
}

// NewLocal returns an in-memory limiter.
func NewLocal(cfg Config) (*Local, error) {
	w, err := cfg.Windows.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Local{w: w, l: l, ops: map[string]*ledger{}}, nil
}

// Windows returns the calendar in effect, defaults applied.
func (q *Local) Windows() Windows { return q.w }

// Take asks for one call of op at now. It never blocks.
func (q *Local) Take(_ context.Context, op string, now time.Time) (Grant, error) {
	start := q.w.Start(now)
	end := start.Add(q.w.Length)
	limit, err := q.l.For(op, q.w.IsNight(now), q.w.Length)
	if err != nil {
		return Grant{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	led := q.ledger(op, start)
	q.account.roll(start)
	g := Grant{Limit: limit, Used: led.used, Start: start, Reset: end}
	if open, at := q.w.Open(now); !open {
		g.RetryAt = at
		return g, nil
	}
	if led.exhausted || led.used >= limit || q.l.AccountCap > 0 && q.account.used >= q.l.AccountCap {
		g.RetryAt = end.Add(q.w.Guard)
		return g, nil
	}
	led.used++
	q.account.used++
	g.OK, g.Used = true, led.used
	return g, nil
}

// Exhausted records that the API answered OUT_OF_LIMIT for op at now: no
// more calls of op until the next window.
func (q *Local) Exhausted(_ context.Context, op string, now time.Time) error {
	start := q.w.Start(now)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ledger(op, start).exhausted = true
	return nil
}

// ledger returns op's ledger of the window starting at start. Callers
// hold q.mu.
func (q *Local) ledger(op string, start time.Time) *ledger {
	led := q.ops[op]
	if led == nil {
		led = &ledger{}
		q.ops[op] = led
	}
	led.roll(start)
	return led
}
