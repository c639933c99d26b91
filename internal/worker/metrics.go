package worker

import (
	"github.com/onec-connect/connect-bridge/internal/metrics"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// workerMetrics are the worker's Prometheus series, per operation.
type workerMetrics struct {
	received  *metrics.CounterVec   // commands taken into a lane
	results   *metrics.CounterVec   // final results by code
	calls     *metrics.CounterVec   // API calls by outcome
	rows      *metrics.HistogramVec // rows per packet
	wait      *metrics.HistogramVec // oldest command's wait before its call
	latency   *metrics.HistogramVec // API call latency
	limit     *metrics.GaugeVec     // quota: calls allowed in the window
	used      *metrics.GaugeVec     // quota: calls granted in the window
	remaining *metrics.GaugeVec     // quota: calls left in the window
	reset     *metrics.GaugeVec     // quota: when the window ends (unix seconds)
	// quotaWait adds up the time ready packets waited for the quota.
	quotaWait *metrics.CounterVec
}

func newWorkerMetrics(r *metrics.Registry, w *Worker) *workerMetrics {
	m := &workerMetrics{
		received: r.Counter("connect_worker_commands_received_total", "Commands taken from the command stream.", "op"),
		results:  r.Counter("connect_worker_results_total", "Final results published, by result code.", "op", "code"),
		calls:    r.Counter("connect_worker_api_calls_total", "Calls of the 1C-Connect API, by outcome.", "op", "outcome"),
		rows: r.Histogram("connect_worker_packet_rows", "Commands per API call.",
			[]float64{1, 2, 5, 10, 20, 50, 80, 95, 99, 100}, "op"),
		wait: r.Histogram("connect_worker_wait_seconds", "How long the oldest command of a call waited before it was sent.",
			metrics.ExponentialBuckets(0.005, 2, 16), "op"),
		latency: r.Histogram("connect_worker_api_latency_seconds", "Latency of API calls.",
			metrics.ExponentialBuckets(0.005, 2, 14), "op"),
		limit:     r.Gauge("connect_worker_quota_limit", "Calls the operation may make in the current window.", "op"),
		used:      r.Gauge("connect_worker_quota_used", "Calls of the operation granted in the current window.", "op"),
		remaining: r.Gauge("connect_worker_quota_remaining", "Calls the operation has left in the current window.", "op"),
		reset:     r.Gauge("connect_worker_quota_reset_timestamp_seconds", "When the current quota window ends.", "op"),
		quotaWait: r.Counter("connect_worker_quota_wait_seconds_total",
			"Time a ready packet of the operation waited for the quota.", "op"),
	}
	r.GaugeFunc("connect_worker_queue_depth", "Commands the worker holds unfinished.", []string{"op"}, func() []metrics.Sample {
		out := make([]metrics.Sample, 0, len(w.lanes))
		for name, l := range w.lanes {
			out = append(out, metrics.Sample{Labels: []string{name}, Value: float64(l.depth.Load())})
		}
		return out
	})
	r.GaugeFunc("connect_worker_ready", "1 when the worker is ready.", nil, func() []metrics.Sample {
		v := 0.0
		if w.Ready() == nil {
			v = 1
		}
		return []metrics.Sample{{Value: v}}
	})
	return m
}

// observeGrant records the quota state a grant reports.
func (m *workerMetrics) observeGrant(op string, g quota.Grant) {
	m.limit.With(op).Set(float64(g.Limit))
	m.used.With(op).Set(float64(g.Used))
	m.reset.With(op).Set(float64(g.Reset.Unix()))
	m.remaining.With(op).Set(float64(g.Remaining()))
}
