package metrics

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// HistogramVec is a histogram family with fixed label names and buckets.
// Get one from Registry.Histogram.
type HistogramVec struct {
	vec    vec[Histogram]
	bounds []float64 // upper bounds, strictly increasing, without +Inf; shared by all series
}

// With returns the histogram of the series with the given label values, in
// the order of the label names given at registration, creating the series
// on first use. It panics if the number of values differs from the number
// of label names: that is a programming error.
//
// With takes a read lock and does not allocate once the series exists;
// keeping the returned *Histogram skips even that and is the fast path.
func (v *HistogramVec) With(values ...string) *Histogram {
	return v.vec.with(values)
}

func (v *HistogramVec) appendSamples(b []byte) ([]byte, error) {
	// le values are the same for every series: format them once.
	les := make([][]byte, len(v.bounds)+1)
	for i, ub := range v.bounds {
		les[i] = appendFloat(nil, ub)
	}
	les[len(v.bounds)] = []byte("+Inf")

	var pairs []byte
	for _, s := range v.vec.snapshot() {
		h := &s.m
		// Not a snapshot: an Observe racing with this scrape may be in the
		// buckets and not yet in the sum (or the reverse for the next one).
		sum := math.Float64frombits(h.sum.Load())
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			pairs = append(pairs[:0], s.pairs...)
			if len(pairs) > 0 {
				pairs = append(pairs, ',')
			}
			pairs = append(pairs, `le="`...)
			pairs = append(pairs, les[i]...)
			pairs = append(pairs, '"')
			b = appendSample(b, v.vec.name, "_bucket", pairs, float64(cum))
		}
		b = appendSample(b, v.vec.name, "_sum", s.pairs, sum)
		// _count is the +Inf bucket, not a separate counter, so the two
		// always agree even while Observe runs concurrently.
		b = appendSample(b, v.vec.name, "_count", s.pairs, float64(cum))
	}
	return b, nil
}

// Histogram is one series of a histogram: it counts observations into
// buckets and keeps their sum. It is safe for concurrent use.
type Histogram struct {
	bounds []float64 // upper bounds of the finite buckets, shared with the HistogramVec
	// counts[i] counts observations v with bounds[i-1] < v <= bounds[i];
	// the last element is the +Inf bucket. Not cumulative: the scrape sums.
	counts []atomic.Uint64
	sum    atomic.Uint64 // float64 bits of the sum of observations
}

// Observe records v: one atomic add on its bucket and a compare-and-swap on
// the sum, no lock, no allocation. NaN is counted in the +Inf bucket and
// makes the sum NaN, as in client_golang.
func (h *Histogram) Observe(v float64) {
	// Binary search for the first bound >= v. "v <= bound" is false for
	// NaN, so NaN lands past the last bound, in +Inf.
	lo, hi := 0, len(h.bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v <= h.bounds[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	h.counts[lo].Add(1)
	addFloat(&h.sum, v)
}

// checkBuckets validates buckets for histogram name and returns the bounds
// to use: a copy, without a trailing +Inf (which is always added).
func checkBuckets(name string, buckets []float64) []float64 {
	bounds := slices.Clone(buckets)
	if n := len(bounds); n > 0 && math.IsInf(bounds[n-1], +1) {
		bounds = bounds[:n-1]
	}
	if len(bounds) == 0 {
		panic(fmt.Sprintf("metrics: histogram %q: no finite buckets", name))
	}
	for i, ub := range bounds {
		if math.IsNaN(ub) || math.IsInf(ub, +1) {
			panic(fmt.Sprintf("metrics: histogram %q: bucket %d is %v", name, i, ub))
		}
		if i > 0 && ub <= bounds[i-1] {
			panic(fmt.Sprintf("metrics: histogram %q: buckets not strictly increasing at %d (%v after %v)",
				name, i, ub, bounds[i-1]))
		}
	}
	return bounds
}

// ExponentialBuckets returns n upper bounds: start, start*factor,
// start*factor², …. It panics unless n >= 1, start > 0 and factor > 1.
func ExponentialBuckets(start, factor float64, n int) []float64 {
	if n < 1 || !(start > 0) || !(factor > 1) || math.IsInf(start, 0) || math.IsInf(factor, 0) {
		panic(fmt.Sprintf("metrics: ExponentialBuckets(%v, %v, %d): want start > 0, factor > 1, n >= 1", start, factor, n))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// LinearBuckets returns n upper bounds: start, start+width,
// start+2*width, …. It panics unless n >= 1 and width > 0.
func LinearBuckets(start, width float64, n int) []float64 {
	if n < 1 || !(width > 0) || math.IsInf(width, 0) || math.IsNaN(start) || math.IsInf(start, 0) {
		panic(fmt.Sprintf("metrics: LinearBuckets(%v, %v, %d): want finite start, width > 0, n >= 1", start, width, n))
	}
	b := make([]float64, n)
	for i := range b {
		// start + i*width rather than repeated addition, so that rounding
		// errors do not accumulate along the series.
		b[i] = start + float64(i)*width
	}
	return b
}
