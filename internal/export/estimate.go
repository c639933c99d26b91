package export

import (
	"math"
	"time"

	"github.com/onec-connect/connect-bridge/internal/quota"
)

// Estimate is when the exports of one read will have read what they have
// left, at the current limits: each export's status carries its read's.
type Estimate struct {
	// Calls are the calls still needed, one per chunk of every export of
	// the read (a halving adds some).
	Calls int
	// Finish is when the last of them can be made. Zero when the quota
	// never allows them (no call in a whole day of windows).
	Finish time.Time
	// PerHour is the exports' calls an hour of the read in the next
	// window: their share of its limit.
	PerHour float64
	// Ledger reports whether the shared ledger's current window was read.
	// When false that window is taken as unused.
	Ledger bool
	// Exports is the number of exports of the read the estimate is for.
	Exports int
}

// shareOf is the exports' calls of a window whose limit is limit: part
// of it, rounded down, and at least one while the limit has any. It is
// the rule quota.Share applies to a take (a copy: quota keeps it
// unexported).
func shareOf(limit int, part float64) int {
	n := int(math.Floor(float64(limit) * part))
	if limit > 0 && n < 1 {
		n = 1
	}
	return n
}

// forecastInput is what an estimate is made from.
type forecastInput struct {
	now   time.Time
	w     quota.Windows
	calls int
	// first is the calls the exports may still make in the window holding
	// now.
	first int
	// capacity is the calls the exports may make in the window starting
	// at start.
	capacity func(start time.Time) int
}

// maxWindows bounds the windows an estimate looks ahead.
const maxWindows = 1 << 20

// forecast returns when the last of in.calls can be made: the calls of
// a window are made as soon as it opens (its start plus the guard), or
// now in the current window, since the exports read chunk after chunk;
// false when a whole day of windows allows none.
func forecast(in forecastInput) (time.Time, bool) {
	if in.calls <= 0 {
		return in.now, true
	}
	perDay := max(int(24*time.Hour/in.w.Length), 1)
	need, idle := in.calls, 0
	start := in.w.Start(in.now)
	for i := 0; i < maxWindows; i++ {
		c, at := in.first, in.now
		if i > 0 {
			c, at = in.capacity(start), start.Add(in.w.Guard)
		} else if open := start.Add(in.w.Guard); at.Before(open) {
			at = open
		}
		if c <= 0 {
			if idle++; idle > perDay {
				return time.Time{}, false
			}
		} else {
			idle = 0
		}
		if need <= c {
			return at, true
		}
		need -= max(c, 0)
		start = in.w.Start(start.Add(in.w.Length))
	}
	return time.Time{}, false
}
