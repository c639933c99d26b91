package metrics_test

import (
	"os"

	"github.com/onec-connect/connect-bridge/internal/metrics"
)

func Example() {
	r := metrics.NewRegistry()

	// Register at start-up; keep the series the hot path uses.
	cmds := r.Counter("bridge_commands_total", "Commands handled, by outcome.", "outcome")
	acked := cmds.With("ack")
	latency := r.Histogram("bridge_call_seconds", "SOAP call latency.", metrics.ExponentialBuckets(0.1, 10, 2))
	r.GaugeFunc("bridge_queue_depth", "Commands waiting, by operation.", []string{"op"}, func() []metrics.Sample {
		return []metrics.Sample{{Labels: []string{"CreateTicket"}, Value: 2}}
	})

	acked.Inc()
	latency.With().Observe(0.5)

	// In the worker: http.Handle("/metrics", r.Handler()).
	_, _ = r.WriteTo(os.Stdout)
	// Output:
	// # HELP bridge_call_seconds SOAP call latency.
	// # TYPE bridge_call_seconds histogram
	// bridge_call_seconds_bucket{le="0.1"} 0
	// bridge_call_seconds_bucket{le="1"} 1
	// bridge_call_seconds_bucket{le="+Inf"} 1
	// bridge_call_seconds_sum 0.5
	// bridge_call_seconds_count 1
	// # HELP bridge_commands_total Commands handled, by outcome.
	// # TYPE bridge_commands_total counter
	// bridge_commands_total{outcome="ack"} 1
	// # HELP bridge_queue_depth Commands waiting, by operation.
	// # TYPE bridge_queue_depth gauge
	// bridge_queue_depth{op="CreateTicket"} 2
}
