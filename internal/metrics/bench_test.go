package metrics_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/onec-connect/connect-bridge/internal/metrics"
)

// BenchmarkCounterInc is the fast path: Inc on a kept *Counter.
func BenchmarkCounterInc(b *testing.B) {
	c := metrics.NewRegistry().Counter("c_total", "C.", "op", "outcome").With("CreateTicket", "ack")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc()
	}
}

// BenchmarkCounterIncParallel is the fast path under contention: every
// goroutine increments the same counter.
func BenchmarkCounterIncParallel(b *testing.B) {
	c := metrics.NewRegistry().Counter("c_total", "C.").With()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

// BenchmarkCounterWithInc looks the series up on every event.
func BenchmarkCounterWithInc(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("labels=%d", n), func(b *testing.B) {
			names := make([]string, n)
			values := make([]string, n)
			for i := range n {
				names[i], values[i] = fmt.Sprintf("l%d", i), fmt.Sprintf("value%d", i)
			}
			v := metrics.NewRegistry().Counter("c_total", "C.", names...)
			v.With(values...)
			b.ReportAllocs()
			for b.Loop() {
				v.With(values...).Inc()
			}
		})
	}
}

// BenchmarkCounterAdd takes the float path (a CAS loop).
func BenchmarkCounterAdd(b *testing.B) {
	c := metrics.NewRegistry().Counter("c_total", "C.").With()
	b.ReportAllocs()
	for b.Loop() {
		c.Add(0.5)
	}
}

// BenchmarkGaugeAdd is a CAS loop on a kept *Gauge.
func BenchmarkGaugeAdd(b *testing.B) {
	g := metrics.NewRegistry().Gauge("g", "G.").With()
	b.ReportAllocs()
	for b.Loop() {
		g.Add(1)
	}
}

// BenchmarkHistogramObserve is the fast path for histograms: Observe on a
// kept *Histogram with 16 buckets.
func BenchmarkHistogramObserve(b *testing.B) {
	h := metrics.NewRegistry().Histogram("h", "H.", metrics.ExponentialBuckets(0.001, 2, 16), "op").With("CreateTicket")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Observe(float64(i%1000) * 0.001)
		i++
	}
}

// BenchmarkHistogramObserveParallel observes into one histogram from every
// goroutine.
func BenchmarkHistogramObserveParallel(b *testing.B) {
	h := metrics.NewRegistry().Histogram("h", "H.", metrics.ExponentialBuckets(0.001, 2, 16)).With()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h.Observe(float64(i%1000) * 0.001)
			i++
		}
	})
}

// BenchmarkWriteTo is one scrape of a worker-sized registry: 20 operations
// × 3 outcomes of counters, a gauge and a 16-bucket histogram per
// operation.
func BenchmarkWriteTo(b *testing.B) {
	r := metrics.NewRegistry()
	cmds := r.Counter("cmds_total", "Commands.", "op", "outcome")
	depth := r.Gauge("depth", "Depth.", "op")
	lat := r.Histogram("lat_seconds", "Latency.", metrics.ExponentialBuckets(0.001, 2, 16), "op")
	for i := range 20 {
		op := fmt.Sprintf("Operation%d", i)
		for _, o := range []string{"ack", "nak", "term"} {
			cmds.With(op, o).Add(float64(i))
		}
		depth.With(op).Set(float64(i))
		lat.With(op).Observe(float64(i) / 100)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
