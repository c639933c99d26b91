// Package clock is the time source of loops that wait: it tells the time
// and makes the timers and tickers a select loop waits on, in the manner
// of tailscale's tstime.Clock.
//
// Code that waits takes a Clock instead of calling the time package, so
// that one value decides what "now" and "in five seconds" mean for the
// whole loop: its decisions (Now) and its waits (timers, tickers) can
// never disagree. Real is the time package. Inside a testing/synctest
// bubble the time package's clock is simulated, so Real is simulated
// there too: a test runs a loop that waits an hour in no real time,
// and the waits it observes are exact.
//
// Invariants: a Timer or Ticker delivers on C the time it fired, as the
// time package does; Stop never closes C; Reset and Stop follow the time
// package's semantics (Go 1.23 and later: no stale value is received
// after Stop or Reset returns).
package clock

import "time"

// Clock tells the time and makes timers and tickers.
type Clock interface {
	// Now returns the current time, as time.Now.
	Now() time.Time
	// NewTimer returns a timer that fires once after d, as time.NewTimer.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that fires every d, as time.NewTicker;
	// d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Timer fires once; see time.Timer.
type Timer interface {
	// C returns the channel the timer delivers its time on.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether it stopped
	// the timer (false: it had fired or been stopped already).
	Stop() bool
	// Reset makes the timer fire after d from now. It reports whether the
	// timer was active.
	Reset(d time.Duration) bool
}

// Ticker fires repeatedly; see time.Ticker.
type Ticker interface {
	// C returns the channel the ticker delivers its ticks on.
	C() <-chan time.Time
	// Stop turns the ticker off.
	Stop()
	// Reset stops the ticker and makes it tick every d from now; d must
	// be positive.
	Reset(d time.Duration)
}

// Real is the Clock of the time package. Its zero value is ready to use.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker returns a time.Ticker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// realTimer is a time.Timer behind the Timer interface: C is a field
// there, a method here.
type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// realTicker is a time.Ticker behind the Ticker interface.
type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }

// Or returns c, or Real when c is nil: the default of a Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
