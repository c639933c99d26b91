package worker

import "time"

// The holding-back rule.
//
// A packet goes when it is full, or when its oldest command has waited
// MaxWait. That spends one call per MaxWait of trickle, which is right
// while calls are plentiful and wrong when they are scarce: then a
// partial packet wastes a call that a full one would have used. So a due
// partial packet is held back — only full packets go — when both hold:
//
//   - the calls left in the window cannot carry the demand that can
//     actually be sent: the calls the held commands need at the least (a
//     key with k rows waiting needs k calls, one after another; see
//     batcher.Demand), plus the packets of the commands still in the
//     stream and of those expected to arrive before the window ends;
//   - more commands are coming before the window ends (in the stream
//     already, or forecast), so that holding can fill the packet.
//
// The forecast counts arrivals over a horizon as long as what is left of
// the window ("as many will come in the rest of the window as came in the
// same span before"), so a burst reads as a burst, never as an hourly
// rate. And a packet is never held longer than MaxHold, nor in the last
// moments of a window (unused calls are lost when it ends).

// holdInput is what the rule looks at.
type holdInput struct {
	now time.Time
	// left is what remains of the quota window; remaining the calls left
	// in it.
	left      time.Duration
	remaining int
	// needed is the least number of calls the commands held need;
	// queued the commands waiting in the stream, expected those forecast
	// to arrive before the window ends.
	needed, queued, expected int
	// fill is the rows of the packet that is due; maxRows a full one.
	fill, maxRows int
	// held is how long the lane has been holding back already.
	held             time.Duration
	maxWait, maxHold time.Duration
}

// holdBack says whether to hold the due packet back, and until when at
// the latest (the lane looks again whenever something changes).
func holdBack(in holdInput) (hold bool, until time.Duration) {
	if in.fill == 0 || in.fill >= in.maxRows || in.maxRows <= 1 {
		return false, 0
	}
	endsSoon := 2*in.maxWait + time.Second
	if in.left <= endsSoon {
		return false, 0 // the window ends soon: use what is left
	}
	if in.held >= in.maxHold {
		return false, 0
	}
	more := in.queued + in.expected
	if more == 0 || in.needed+ceilDiv(more, in.maxRows) <= in.remaining {
		return false, 0
	}
	return true, min(in.maxHold-in.held, in.left-endsSoon)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// arrivalBuckets is how finely arrivals are counted over a window.
const arrivalBuckets = 60

// arrivals counts the commands that arrived over the last window, in
// arrivalBuckets buckets, for the forecast.
type arrivals struct {
	span    time.Duration // one bucket's
	counts  [arrivalBuckets]int
	starts  [arrivalBuckets]time.Time // each bucket's start, zero when empty
	current int
}

// add counts n arrivals at now, for windows of length window.
func (a *arrivals) add(now time.Time, n int, window time.Duration) {
	span := max(window/arrivalBuckets, time.Millisecond)
	if span != a.span {
		*a = arrivals{span: span}
	}
	start := now.Truncate(span)
	if !a.starts[a.current].Equal(start) {
		a.current = (a.current + 1) % arrivalBuckets
		a.starts[a.current], a.counts[a.current] = start, 0
	}
	a.counts[a.current] += n
}

// within returns the arrivals of the last d before now (whole buckets).
func (a *arrivals) within(now time.Time, d time.Duration) int {
	n := 0
	for i, start := range a.starts {
		if !start.IsZero() && !start.After(now) && now.Sub(start) < d+a.span {
			n += a.counts[i]
		}
	}
	return n
}
