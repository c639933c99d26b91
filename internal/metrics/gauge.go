package metrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
)

// GaugeVec is a gauge family with fixed label names. Get one from
// Registry.Gauge.
type GaugeVec struct {
	vec vec[Gauge]
}

// With returns the gauge of the series with the given label values, in the
// order of the label names given at registration, creating the series on
// first use. It panics if the number of values differs from the number of
// label names: that is a programming error.
//
// With takes a read lock and does not allocate once the series exists;
// keeping the returned *Gauge skips even that and is the fast path.
func (v *GaugeVec) With(values ...string) *Gauge {
	return v.vec.with(values)
}

func (v *GaugeVec) appendSamples(b []byte) ([]byte, error) {
	for _, s := range v.vec.snapshot() {
		b = appendSample(b, v.vec.name, "", s.pairs, s.m.Value())
	}
	return b, nil
}

// Gauge is one series of a gauge: a value that can go up and down. It
// starts at zero and is safe for concurrent use.
type Gauge struct {
	bits atomic.Uint64 // float64 bits of the value
}

// Set sets the value to v.
func (g *Gauge) Set(v float64) {
	g.bits.Store(math.Float64bits(v))
}

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) {
	addFloat(&g.bits, v)
}

// Inc adds 1.
func (g *Gauge) Inc() {
	g.Add(1)
}

// Dec subtracts 1.
func (g *Gauge) Dec() {
	g.Add(-1)
}

// Value returns the current value.
func (g *Gauge) Value() float64 {
	return math.Float64frombits(g.bits.Load())
}

// Sample is one series of a gauge computed at scrape time by a GaugeFunc
// callback.
type Sample struct {
	// Labels holds the label values, in the order of the label names given
	// to GaugeFunc; nil for a gauge without labels.
	Labels []string
	// Value is the gauge's value. NaN and ±Inf are allowed.
	Value float64
}

// gaugeFunc is a gauge family whose series come from a callback.
type gaugeFunc struct {
	name   string
	labels []string
	fn     func() []Sample
}

// appendSamples calls the callback — without any registry lock held, so it
// may take the caller's own locks — and writes its samples in label-value
// order. A sample with the wrong number of label values, or two samples
// with the same ones, is an error: the output would be invalid.
func (g *gaugeFunc) appendSamples(b []byte) ([]byte, error) {
	got := g.fn()
	samples := make([]Sample, len(got))
	for i, s := range got {
		if len(s.Labels) != len(g.labels) {
			return b, fmt.Errorf("metrics: gauge func %q: sample %d has %d label values, want %d (%s)",
				g.name, i, len(s.Labels), len(g.labels), strings.Join(g.labels, ", "))
		}
		// Sanitize a copy: the callback's slices are its own.
		labels := make([]string, len(s.Labels))
		for j, v := range s.Labels {
			labels[j] = strings.ToValidUTF8(v, "\uFFFD")
		}
		samples[i] = Sample{Labels: labels, Value: s.Value}
	}
	slices.SortFunc(samples, func(a, b Sample) int { return slices.Compare(a.Labels, b.Labels) })
	var pairs []byte
	for i, s := range samples {
		if i > 0 && slices.Equal(samples[i-1].Labels, s.Labels) {
			return b, fmt.Errorf("metrics: gauge func %q: two samples with label values %q",
				g.name, s.Labels)
		}
		pairs = appendPairs(pairs[:0], g.labels, s.Labels)
		b = appendSample(b, g.name, "", pairs, s.Value)
	}
	return b, nil
}
