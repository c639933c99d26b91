// Package status is the worker's status page: an operator's view, at a
// glance, of every operation's backlog, calls in flight and quota window,
// the results and dead letters by code, and the change feeds' and
// exports' lag.
//
// Invariants: every number on the page is read from the process's own
// metrics registry at the moment the page (or its JSON) is asked for, so
// the page and /metrics never disagree; the page is read-only and shows
// no command's fields, only counts; it is plain server-rendered HTML with
// an inline script that refreshes it in place from /status.json, and
// fetches nothing from anywhere else. Text that came from outside (an
// operation's or a code's name) is escaped, in the template and in the
// script alike.
package status

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Snapshot is what the page shows.
type Snapshot struct {
	// At is when it was taken.
	At time.Time `json:"at"`
	// Ready reports whether the worker is ready (connect_worker_ready).
	Ready bool `json:"ready"`
	// Operations are those with anything to show (commands received,
	// held, calls made or granted), by name; Idle counts the others.
	Operations []Operation `json:"operations"`
	Idle       int         `json:"idle"`
	// Results and DeadLetters are the counts by code, all operations
	// together, since the process started.
	Results     map[string]float64 `json:"results"`
	DeadLetters map[string]float64 `json:"dead_letters"`
	// Feeds and Exports are the change feeds and exports with their lag.
	Feeds   []Lag `json:"feeds"`
	Exports []Lag `json:"exports"`
}

// Operation is one operation's line.
type Operation struct {
	Op string `json:"op"`
	// Received, Backlog and InFlight: commands taken from the stream,
	// held unfinished, and calls under way.
	Received float64 `json:"received"`
	Backlog  float64 `json:"backlog"`
	InFlight float64 `json:"in_flight"`
	// Calls made, all outcomes.
	Calls float64 `json:"calls"`
	// Quota is the current window.
	Quota Quota `json:"quota"`
	// Results are its results by code.
	Results map[string]float64 `json:"results"`
}

// Quota is an operation's current window.
type Quota struct {
	Used      float64   `json:"used"`
	Limit     float64   `json:"limit"`
	Remaining float64   `json:"remaining"`
	Reset     time.Time `json:"reset"`
}

// Percent is how much of the limit is used, 0 to 100.
func (q Quota) Percent() float64 {
	if q.Limit <= 0 {
		return 0
	}
	return min(100, 100*q.Used/q.Limit)
}

// Lag is a feed's or an export's name and how far behind it is.
type Lag struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Gather reads a snapshot from g.
func Gather(g prometheus.Gatherer, now time.Time) (Snapshot, error) {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return Snapshot{}, err
	}
	s := Snapshot{At: now.UTC(), Results: map[string]float64{}, DeadLetters: map[string]float64{}}
	ops := map[string]*Operation{}
	op := func(name string) *Operation {
		o, ok := ops[name]
		if !ok {
			o = &Operation{Op: name, Results: map[string]float64{}}
			ops[name] = o
		}
		return o
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := value(m)
			l := labels(m)
			switch mf.GetName() {
			case "connect_worker_ready":
				s.Ready = v == 1
			case "connect_worker_commands_received_total":
				op(l["op"]).Received = v
			case "connect_worker_queue_depth":
				op(l["op"]).Backlog = v
			case "connect_worker_calls_in_flight":
				op(l["op"]).InFlight = v
			case "connect_worker_api_calls_total":
				op(l["op"]).Calls += v
			case "connect_worker_quota_used":
				op(l["op"]).Quota.Used = v
			case "connect_worker_quota_limit":
				op(l["op"]).Quota.Limit = v
			case "connect_worker_quota_remaining":
				op(l["op"]).Quota.Remaining = v
			case "connect_worker_quota_reset_timestamp_seconds":
				if v > 0 {
					op(l["op"]).Quota.Reset = time.Unix(int64(v), 0).UTC()
				}
			case "connect_worker_results_total":
				op(l["op"]).Results[l["code"]] += v
				s.Results[l["code"]] += v
			case "connect_worker_dead_letters_total":
				s.DeadLetters[l["code"]] += v
			case "connect_feed_lag_seconds":
				s.Feeds = append(s.Feeds, Lag{Name: l["feed"], Seconds: v})
			case "connect_export_lag_seconds":
				s.Exports = append(s.Exports, Lag{Name: l["export"], Seconds: v})
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		o := ops[name]
		if o.Received == 0 && o.Backlog == 0 && o.InFlight == 0 && o.Calls == 0 && o.Quota.Used == 0 && len(o.Results) == 0 {
			s.Idle++
			continue
		}
		s.Operations = append(s.Operations, *o)
	}
	byName := func(a, b Lag) int { return cmp.Compare(a.Name, b.Name) }
	slices.SortFunc(s.Feeds, byName)
	slices.SortFunc(s.Exports, byName)
	return s, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
