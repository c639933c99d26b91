package metrics

import (
	"fmt"
	"math"
	"sync/atomic"
)

// CounterVec is a counter family with fixed label names. Get one from
// Registry.Counter.
type CounterVec struct {
	vec vec[Counter]
}

// With returns the counter of the series with the given label values, in
// the order of the label names given at registration, creating the series
// on first use. It panics if the number of values differs from the number
// of label names: that is a programming error.
//
// With takes a read lock and does not allocate once the series exists.
// Keeping the returned *Counter and calling Inc on it is faster still (one
// atomic add, no lock) and is the intended fast path for hot code.
func (v *CounterVec) With(values ...string) *Counter {
	return v.vec.with(values)
}

func (v *CounterVec) appendSamples(b []byte) ([]byte, error) {
	for _, s := range v.vec.snapshot() {
		b = appendSample(b, v.vec.name, "", s.pairs, s.m.Value())
	}
	return b, nil
}

// Counter is one series of a counter: a value that starts at zero and only
// goes up. It is safe for concurrent use.
type Counter struct {
	// The value is whole plus the float64 in frac. Inc and whole-number
	// Adds take the cheaper, contention-friendly integer add; other Adds
	// take a compare-and-swap loop on frac.
	whole atomic.Uint64 // sum of the whole-number increments
	frac  atomic.Uint64 // float64 bits of the sum of the other increments
}

// Inc adds 1.
func (c *Counter) Inc() {
	c.whole.Add(1)
}

// Add adds v. It panics if v is negative or NaN, which would break the
// counter's promise never to decrease: that is a programming error. Use a
// Gauge for values that go down.
func (c *Counter) Add(v float64) {
	if v < 0 || math.IsNaN(v) {
		panic(fmt.Sprintf("metrics: counter Add(%v): counters cannot decrease", v))
	}
	// Whole numbers that fit a uint64 take the integer path; fractions,
	// larger numbers and +Inf take the float path.
	if v < 1<<64 {
		if u := uint64(v); float64(u) == v {
			c.whole.Add(u)
			return
		}
	}
	addFloat(&c.frac, v)
}

// Value returns the current value, for tests and for code that reports it
// elsewhere.
func (c *Counter) Value() float64 {
	return float64(c.whole.Load()) + math.Float64frombits(c.frac.Load())
}
