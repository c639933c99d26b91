package feed

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// feedMetrics are the feeds' Prometheus series, per feed.
type feedMetrics struct {
	polls  *prometheus.CounterVec // polls by outcome
	rows   *prometheus.CounterVec // rows read
	events *prometheus.CounterVec // events published
	calls  *prometheus.CounterVec // API calls made
	skew   *prometheus.GaugeVec   // the worker's clock less the service's
	// mirrored counts the mirror's records (tombstones included), as the
	// bucket said after the last complete poll.
	mirrored prometheus.Gauge
}

func newFeedMetrics(reg prometheus.Registerer, r *Runner) (*feedMetrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &feedMetrics{
		polls:  counter("connect_feed_polls_total", "Polls of a feed, by outcome.", "feed", "outcome"),
		rows:   counter("connect_feed_rows_total", "Rows a feed read.", "feed"),
		events: counter("connect_feed_events_total", "Change events a feed published.", "feed"),
		calls:  counter("connect_feed_calls_total", "API calls a feed made.", "feed"),
		skew: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "connect_feed_clock_skew_seconds",
			Help: "How far the service's clock (its answers' Date) is behind the worker's."}, []string{"feed"}),
		mirrored: prometheus.NewGauge(prometheus.GaugeOpts{Name: "connect_feed_mirror_objects",
			Help: "Objects in the mirror (deleted ones' tombstones included)."}),
	}
	for _, f := range r.cfg.Feeds {
		m.polls.WithLabelValues(f.Name, "success")
		m.rows.WithLabelValues(f.Name)
		m.events.WithLabelValues(f.Name)
		m.calls.WithLabelValues(f.Name)
	}
	for _, c := range []prometheus.Collector{m.polls, m.rows, m.events, m.calls, m.skew, m.mirrored, lagCollector{r, newLagDesc()}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("feed: metrics: %w", err)
		}
	}
	return m, nil
}

func newLagDesc() *prometheus.Desc {
	return prometheus.NewDesc("connect_feed_lag_seconds", "How far behind the present a feed's marker is.", []string{"feed"}, nil)
}

// lagCollector reports every feed's lag when scraped.
type lagCollector struct {
	r    *Runner
	desc *prometheus.Desc
}

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	for f, v := range c.r.lag(c.r.cfg.Clock.Now()) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, f)
	}
}
