package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onec-connect/connect-bridge/internal/quota"
)

// unknownOp is the operation label of commands on subjects that name no
// operation of the API: producers choose those subjects, so each would
// otherwise add series without bound.
const unknownOp = "unknown"

// workerMetrics are the worker's Prometheus series, per operation.
type workerMetrics struct {
	received  *prometheus.CounterVec   // commands taken into a lane
	results   *prometheus.CounterVec   // final results by code
	calls     *prometheus.CounterVec   // API calls by outcome
	rows      *prometheus.HistogramVec // rows per packet
	wait      *prometheus.HistogramVec // oldest command's wait before its call
	latency   *prometheus.HistogramVec // API call latency
	limit     *prometheus.GaugeVec     // quota: calls allowed in the window
	used      *prometheus.GaugeVec     // quota: calls granted in the window
	remaining *prometheus.GaugeVec     // quota: calls left in the window
	reset     *prometheus.GaugeVec     // quota: when the window ends (unix seconds)
	// quotaWait adds up the time ready packets waited for the quota.
	quotaWait *prometheus.CounterVec
	// deadLetters counts the dead letters stored, by result code.
	deadLetters *prometheus.CounterVec
	// inFlight is the calls of each lane under way.
	inFlight *prometheus.GaugeVec
}

// newWorkerMetrics makes the worker's series and registers them with r; a
// registry that already holds them (a second worker on it) is an error.
func newWorkerMetrics(r prometheus.Registerer, w *Worker) (*workerMetrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"op"})
	}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, []string{"op"})
	}
	m := &workerMetrics{
		received: counter("connect_worker_commands_received_total", "Commands taken from the command stream.", "op"),
		results:  counter("connect_worker_results_total", "Final results published, by result code.", "op", "code"),
		calls:    counter("connect_worker_api_calls_total", "Calls of the 1C-Connect API, by outcome.", "op", "outcome"),
		rows: histogram("connect_worker_packet_rows", "Commands per API call.",
			[]float64{1, 2, 5, 10, 20, 50, 80, 95, 99, 100}),
		wait: histogram("connect_worker_wait_seconds", "How long the oldest command of a call waited before it was sent.",
			prometheus.ExponentialBuckets(0.005, 2, 16)),
		latency: histogram("connect_worker_api_latency_seconds", "Latency of API calls.",
			prometheus.ExponentialBuckets(0.005, 2, 14)),
		limit:       gauge("connect_worker_quota_limit", "Calls the operation may make in the current window."),
		used:        gauge("connect_worker_quota_used", "Calls of the operation granted in the current window."),
		remaining:   gauge("connect_worker_quota_remaining", "Calls the operation has left in the current window."),
		reset:       gauge("connect_worker_quota_reset_timestamp_seconds", "When the current quota window ends."),
		inFlight:    gauge("connect_worker_calls_in_flight", "API calls of the operation under way."),
		deadLetters: counter("connect_worker_dead_letters_total", "Dead letters stored in the dead-letter stream, by result code.", "op", "code"),
		quotaWait: counter("connect_worker_quota_wait_seconds_total",
			"Time a ready packet of the operation waited for the quota.", "op"),
	}
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "connect_worker_ready", Help: "1 when the worker is ready."}, func() float64 {
		if w.Ready() == nil {
			return 1
		}
		return 0
	})
	// Every lane's counters exist from the start, at 0, so that a rate
	// over them is defined before the first command comes.
	for name := range w.lanes {
		m.received.WithLabelValues(name)
		m.quotaWait.WithLabelValues(name)
		m.inFlight.WithLabelValues(name)
	}
	for _, c := range []prometheus.Collector{m.received, m.results, m.calls, m.rows, m.wait, m.latency,
		m.limit, m.used, m.remaining, m.reset, m.quotaWait, m.deadLetters, m.inFlight, ready, newDepthCollector(w)} {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("worker: metrics: %w", err)
		}
	}
	return m, nil
}

// observeGrant records the quota state a grant reports.
func (m *workerMetrics) observeGrant(op string, g quota.Grant) {
	m.limit.WithLabelValues(op).Set(float64(g.Limit))
	m.used.WithLabelValues(op).Set(float64(g.Used))
	m.reset.WithLabelValues(op).Set(float64(g.Reset.Unix()))
	m.remaining.WithLabelValues(op).Set(float64(g.Remaining()))
}

// depthCollector reports every lane's queue depth
// (connect_worker_queue_depth) when scraped: the lanes keep it in an
// atomic, so nothing is updated on the hot path.
type depthCollector struct {
	w    *Worker
	desc *prometheus.Desc
}

func newDepthCollector(w *Worker) depthCollector {
	return depthCollector{w: w, desc: prometheus.NewDesc("connect_worker_queue_depth", "Commands the worker holds unfinished.", []string{"op"}, nil)}
}

func (c depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c depthCollector) Collect(ch chan<- prometheus.Metric) {
	for name, l := range c.w.lanes {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(l.depth.Load()), name)
	}
}
