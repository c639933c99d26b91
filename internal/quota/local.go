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

// Validate reports what NewLocal and NewShared would refuse in cfg, so
// that a caller can refuse bad settings before it waits for the ledger's
// bucket (which cannot fix them).
func (cfg Config) Validate() error {
	_, err := newRules(cfg)
	return err
}

// Local is a limiter for one process: it keeps the ledger in memory. With
// several replicas each would spend the whole limit; Shared is the
// limiter for that.
type Local struct {
	rules

	mu sync.Mutex // protects ops, shares, account
	// ops is the ledger of the current window per operation; shares per
	// share and operation ("<share>.<op>").
	ops, shares map[string]*ledger
	// account counts every operation's calls for the account cap.
	account ledger
}

// ledger counts the calls of one window.
type ledger struct {
	start time.Time // the window's start
	entry           // calls granted; OUT_OF_LIMIT seen (Exhausted)
}

// roll resets l when start is a later window than the one it counts.
func (l *ledger) roll(start time.Time) {
	if !l.start.Equal(start) {
		*l = ledger{start: start}
	}
}

// NewLocal returns an in-memory limiter.
func NewLocal(cfg Config) (*Local, error) {
	r, err := newRules(cfg)
	if err != nil {
		return nil, err
	}
	return &Local{rules: r, ops: map[string]*ledger{}, shares: map[string]*ledger{}}, nil
}

// Windows returns the calendar in effect, defaults applied.
func (q *Local) Windows() Windows { return q.w }

// Take asks for one call of op at now. It never blocks. The grant rule
// (see rule.go) is applied under one lock, so both counts are checked
// and both are incremented at once.
func (q *Local) Take(ctx context.Context, op string, now time.Time) (Grant, error) {
	return q.take(op, nil, now)
}

// TakeShare asks for one call of op at now from share s: within the
// operation's limit, and within s's part of it.
func (q *Local) TakeShare(_ context.Context, op string, s Share, now time.Time) (Grant, error) {
	if err := validShare(s); err != nil {
		return Grant{}, err
	}
	return q.take(op, &s, now)
}

func (q *Local) take(op string, s *Share, now time.Time) (Grant, error) {
	req, done, err := q.begin(op, now)
	if done {
		return req.g, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	led := q.ledger(q.ops, op, req.g.Start)
	q.account.roll(req.g.Start)
	var part *ledger
	if s != nil {
		part = q.ledger(q.shares, s.Name+"."+op, req.g.Start)
	}
	if !led.room(req.g.Limit) || part != nil && !part.room(s.limit(req.g.Limit)) || !req.accountRoom(q.account.Used) {
		return req.denied(led.Used), nil
	}
	led.Used++
	if part != nil {
		part.Used++
	}
	q.account.Used++
	return req.granted(led.Used), nil
}

// Exhausted records that the API answered OUT_OF_LIMIT for op at now: no
// more calls of op until the next window.
func (q *Local) Exhausted(_ context.Context, op string, now time.Time) error {
	start := q.w.Start(now)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ledger(q.ops, op, start).Exhausted = true
	return nil
}

// ledger returns the ledger of name in m for the window starting at
// start. Callers hold q.mu.
func (q *Local) ledger(m map[string]*ledger, name string, start time.Time) *ledger {
	led := m[name]
	if led == nil {
		led = &ledger{}
		m[name] = led
	}
	led.roll(start)
	return led
}
