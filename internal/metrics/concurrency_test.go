package metrics_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/metrics"
)

// TestConcurrentUpdates hammers every kind of update from many goroutines
// — through With and through kept series, creating series as they go —
// while a scraper renders and validates the registry and other goroutines
// register families. Run under -race; the totals must come out exact.
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	const workers, iters = 16, 2000
	ops := []string{"CreateTicket", "AddComment", "CloseTicket"}
	obs := []float64{0.125, 0.25, 0.75, 2} // exact in binary, so sums are exact

	r := setup(t)
	cmds := r.Counter("cmds_total", "Commands.", "op", "outcome")
	kept := r.Counter("bytes_total", "Bytes.").With()
	inflight := r.Gauge("inflight", "In flight.", "op")
	lat := r.Histogram("lat_seconds", "Latency.", []float64{0.25, 0.5, 1}, "op")
	r.GaugeFunc("depth", "Depth.", []string{"op"}, func() []metrics.Sample {
		s := make([]metrics.Sample, len(ops))
		for i, op := range ops {
			s[i] = metrics.Sample{Labels: []string{op}, Value: inflight.With(op).Value()}
		}
		return s
	})

	stop := make(chan struct{})
	scrapeErr := make(chan error, 1)
	var scraper sync.WaitGroup
	scraper.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var buf bytes.Buffer
			_, err := r.WriteTo(&buf)
			if err == nil {
				_, err = parseExposition(buf.String())
			}
			if err != nil {
				scrapeErr <- fmt.Errorf("%w\n%s", err, buf.String())
				return
			}
		}
	})

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Registration races with scrapes and with other registrations.
			r.Counter(fmt.Sprintf("late_%d_total", w), "Registered late.").With().Inc()
			for i := range iters {
				op := ops[(w+i)%len(ops)]
				outcome := []string{"ack", "nak"}[i%2]
				cmds.With(op, outcome).Inc()
				kept.Add(0.5)
				g := inflight.With(op)
				g.Inc()
				lat.With(op).Observe(obs[i%len(obs)])
				g.Dec()
			}
		})
	}
	wg.Wait()
	close(stop)
	scraper.Wait()
	select {
	case err := <-scrapeErr:
		require.NoError(t, err)
	default:
	}

	// The same work done sequentially gives the expected totals.
	want := map[string]float64{`bytes_total`: workers * iters * 0.5}
	for w := range workers {
		want[fmt.Sprintf("late_%d_total", w)] = 1
		for i := range iters {
			op := ops[(w+i)%len(ops)]
			want[fmt.Sprintf(`cmds_total{op=%q,outcome=%q}`, op, []string{"ack", "nak"}[i%2])]++
			v := obs[i%len(obs)]
			for _, le := range []float64{0.25, 0.5, 1} {
				key := fmt.Sprintf(`lat_seconds_bucket{op=%q,le="%v"}`, op, le)
				if _, ok := want[key]; !ok {
					want[key] = 0
				}
				if v <= le {
					want[key]++
				}
			}
			want[fmt.Sprintf(`lat_seconds_bucket{op=%q,le="+Inf"}`, op)]++
			want[fmt.Sprintf(`lat_seconds_count{op=%q}`, op)]++
			want[fmt.Sprintf(`lat_seconds_sum{op=%q}`, op)] += v
		}
	}
	for _, op := range ops {
		want[fmt.Sprintf(`inflight{op=%q}`, op)] = 0
		want[fmt.Sprintf(`depth{op=%q}`, op)] = 0
	}

	got, err := parseExposition(render(t, r))
	require.NoError(t, err)
	require.Equal(t, want, got)
}
