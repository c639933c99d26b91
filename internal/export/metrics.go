package export

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// exportMetrics are the exports' Prometheus series, per export.
type exportMetrics struct {
	reads      *prometheus.CounterVec // reads of a chunk by outcome
	calls      *prometheus.CounterVec // API calls made
	rows       *prometheus.CounterVec // rows read
	published  *prometheus.CounterVec // rows the stream stored as new
	duplicates *prometheus.CounterVec // rows the stream dropped as duplicates
	halvings   *prometheus.CounterVec // chunks halved, by reason
	failures   *prometheus.CounterVec // chunks that could not be read at all
}

func newExportMetrics(reg prometheus.Registerer, r *Runner) (*exportMetrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &exportMetrics{
		reads:      counter("connect_export_reads_total", "Reads of a chunk of an export, by outcome.", "export", "outcome"),
		calls:      counter("connect_export_calls_total", "API calls an export made.", "export"),
		rows:       counter("connect_export_rows_total", "Rows an export read.", "export"),
		published:  counter("connect_export_published_total", "Rows an export published that the stream stored as new.", "export"),
		duplicates: counter("connect_export_duplicates_total", "Rows an export published again that the stream dropped as duplicates.", "export"),
		halvings:   counter("connect_export_halvings_total", "Chunks halved because the answer was too large or the period refused.", "export", "reason"),
		failures:   counter("connect_export_chunk_failures_total", "Chunks that could not be read even at the minimum chunk.", "export"),
	}
	for _, j := range r.jobs {
		m.reads.WithLabelValues(j.Name, outSuccess)
		// The reasons a chunk is halved: an answer too large, a period
		// refused.
		m.halvings.WithLabelValues(j.Name, outTooLarge)
		m.halvings.WithLabelValues(j.Name, outRefused)
		m.calls.WithLabelValues(j.Name)
		m.rows.WithLabelValues(j.Name)
		m.published.WithLabelValues(j.Name)
		m.duplicates.WithLabelValues(j.Name)
		m.failures.WithLabelValues(j.Name)
	}
	lag := lagCollector{r, prometheus.NewDesc("connect_export_lag_seconds",
		"How far behind the present an export's marker is.", []string{"export"}, nil)}
	for _, c := range []prometheus.Collector{m.reads, m.calls, m.rows, m.published, m.duplicates, m.halvings, m.failures, lag} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("export: metrics: %w", err)
		}
	}
	return m, nil
}

// lagCollector reports every export's lag when scraped.
type lagCollector struct {
	r    *Runner
	desc *prometheus.Desc
}

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	for name, v := range c.r.lag(c.r.cfg.Clock.Now()) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, name)
	}
}
