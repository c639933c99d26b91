package quota

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// The grant rule, the same for Local and Shared (see the package comment,
// "The grant rule"): both call these in this order, and differ only in
// where the counts live.
//
//  1. begin: the window and the operation's limit at now; in a guard
//     interval no call, until the guard ends.
//  2. entry.room: the operation's count in the window, first: not
//     exhausted, below its limit; else not before the next window.
//  3. request.accountRoom: the account's count, below the cap (if any);
//     else not before the next window.
//  4. A grant counts one call on both the operation and the account, or
//     on neither.
//
// A take of a share (TakeShare: a part of the operation's limit kept for
// one kind of caller, the change feeds) checks one count more, between
// steps 2 and 3: the share's own, below its part of the limit. Its grant
// counts on the operation, the share and the account, or on none.

// rules are what a limiter grants by: its calendar and limits, defaults
// applied.
type rules struct {
	w Windows
	l Limits
}

// newRules applies the defaults of cfg and checks it.
func newRules(cfg Config) (rules, error) {
	w, err := cfg.Windows.withDefaults()
	if err != nil {
		return rules{}, err
	}
	l, err := cfg.Limits.withDefaults()
	if err != nil {
		return rules{}, err
	}
	return rules{w: w, l: l}, nil
}

// request is one Take, as far as it is decided before a count is read.
type request struct {
	// g is the answer so far: Limit, Start and Reset are set.
	g Grant
	// next is when the next window opens: its start plus the guard.
	next time.Time
	// cap is the account cap; 0 for none.
	cap int
}

// begin is step 1 of the rule for op at now. done means the answer is
// req.g already (a guard interval); err that op has no limit.
func (r rules) begin(op string, now time.Time) (req request, done bool, err error) {
	start := r.w.Start(now)
	end := start.Add(r.w.Length)
	limit, err := r.l.For(op, r.w.IsNight(now), r.w.Length)
	if err != nil {
		return request{}, true, err
	}
	req = request{g: Grant{Limit: limit, Start: start, Reset: end}, next: end.Add(r.w.Guard), cap: r.l.AccountCap}
	if open, at := r.w.Open(now); !open {
		req.g.RetryAt = at
		return req, true, nil
	}
	return req, false, nil
}

// Share names a part of each operation's limit kept for one kind of
// caller: at most Part of the limit (0 < Part ≤ 1) goes to takes of the
// share, counted apart under Name, so that the rest stays for the others.
type Share struct {
	Name string
	Part float64
}

// validShare reports what is wrong with s.
func validShare(s Share) error {
	switch {
	case s.Name == "" || strings.ContainsAny(s.Name, ".*> \t"):
		return fmt.Errorf("quota: share name %q: want a plain token", s.Name)
	case !(s.Part > 0 && s.Part <= 1):
		return fmt.Errorf("quota: share %s: part %v, want more than 0 and at most 1", s.Name, s.Part)
	}
	return nil
}

// shareLimit is the share's calls of a window whose limit is limit: its
// part, rounded down, and at least one while the limit has any.
func (s Share) limit(limit int) int {
	n := int(math.Floor(float64(limit) * s.Part))
	if limit > 0 && n < 1 {
		n = 1
	}
	return n
}

// room is step 2: whether the operation's window, counted in e, has a
// call left under limit.
func (e entry) room(limit int) bool { return !e.Exhausted && e.Used < limit }

// accountRoom is step 3: whether the account, used calls counted in the
// window, has a call left under the cap.
func (r request) accountRoom(used int) bool { return r.cap <= 0 || used < r.cap }

// granted is the answer to a call granted, the operation's count now
// used (this call included).
func (r request) granted(used int) Grant {
	g := r.g
	g.OK, g.Used = true, used
	return g
}

// denied is the answer when the operation or the account has no call
// left in this window, the operation's count being used: not before the
// next window.
func (r request) denied(used int) Grant {
	g := r.g
	g.Used, g.RetryAt = used, r.next
	return g
}

// busy is the answer when the ledger stayed contended: ask again in a
// moment, at a random offset so that replicas spread out.
func (r request) busy(now time.Time) Grant {
	g := r.g
	g.RetryAt = now.Add(time.Duration(1+rand.IntN(20)) * time.Millisecond)
	return g
}

// ShareTaker grants calls from a share of an operation's limit and
// records the service's OUT_OF_LIMIT: Local and Shared are both. The
// change feeds and the exports take their calls through it.
type ShareTaker interface {
	TakeShare(ctx context.Context, op string, s Share, now time.Time) (Grant, error)
	Exhausted(ctx context.Context, op string, now time.Time) error
}
