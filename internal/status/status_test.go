package status_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/status"
)

// registry holds the worker's series as a small run left them: one busy
// operation, one idle, results of a hostile code, a feed.
func registry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	gauge := func(name string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: name}, labels)
		reg.MustRegister(g)
		return g
	}
	counter := func(name string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: name}, labels)
		reg.MustRegister(c)
		return c
	}
	gauge("connect_worker_queue_depth", "op").WithLabelValues("ClientUserEdit").Set(7)
	gauge("connect_worker_calls_in_flight", "op").WithLabelValues("ClientUserEdit").Set(1)
	received := counter("connect_worker_commands_received_total", "op")
	received.WithLabelValues("ClientUserEdit").Add(250)
	received.WithLabelValues("RegionRead")
	limit := gauge("connect_worker_quota_limit", "op")
	limit.WithLabelValues("ClientUserEdit").Set(225)
	limit.WithLabelValues("RegionRead").Set(225)
	gauge("connect_worker_quota_used", "op").WithLabelValues("ClientUserEdit").Set(3)
	gauge("connect_worker_quota_remaining", "op").WithLabelValues("ClientUserEdit").Set(222)
	gauge("connect_worker_quota_reset_timestamp_seconds", "op").WithLabelValues("ClientUserEdit").Set(1_796_130_000)
	calls := counter("connect_worker_api_calls_total", "op", "outcome")
	calls.WithLabelValues("ClientUserEdit", "success").Add(2)
	calls.WithLabelValues("ClientUserEdit", "api_error").Add(1)
	results := counter("connect_worker_results_total", "op", "code")
	results.WithLabelValues("ClientUserEdit", "SUCCESS").Add(240)
	results.WithLabelValues("ClientUserEdit", "<script>alert(1)</script>").Add(3)
	counter("connect_worker_dead_letters_total", "op", "code").WithLabelValues("ClientUserEdit", "INVALID_COMMAND").Add(2)
	gauge("connect_feed_lag_seconds", "feed").WithLabelValues("ClientUserRead").Set(42)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "connect_worker_ready", Help: "ready"}, func() float64 { return 1 }))
	return reg
}

func TestGather(t *testing.T) {
	t.Parallel()
	s, err := status.Gather(registry(t), time.Unix(1_796_128_000, 0))
	require.NoError(t, err)
	require.True(t, s.Ready)
	require.Len(t, s.Operations, 1, "the idle operation is counted, not shown")
	require.Equal(t, 1, s.Idle)
	o := s.Operations[0]
	require.Equal(t, "ClientUserEdit", o.Op)
	require.Equal(t, 250.0, o.Received)
	require.Equal(t, 7.0, o.Backlog)
	require.Equal(t, 1.0, o.InFlight)
	require.Equal(t, 3.0, o.Calls, "every outcome")
	require.Equal(t, status.Quota{Used: 3, Limit: 225, Remaining: 222, Reset: time.Unix(1_796_130_000, 0).UTC()}, o.Quota)
	require.InDelta(t, 1.33, o.Quota.Percent(), 0.01)
	require.Equal(t, map[string]float64{"SUCCESS": 240, "<script>alert(1)</script>": 3}, s.Results)
	require.Equal(t, map[string]float64{"INVALID_COMMAND": 2}, s.DeadLetters)
	require.Equal(t, []status.Lag{{Name: "ClientUserRead", Seconds: 42}}, s.Feeds)
}

func TestHandler(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(status.Handler(registry(t), nil))
	t.Cleanup(hs.Close)
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(hs.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	resp, body := get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	require.Contains(t, body, `data-metric="connect_worker_queue_depth" data-op="ClientUserEdit">7<`)
	require.Contains(t, body, `data-metric="connect_worker_quota_used" data-op="ClientUserEdit">3<`)
	require.NotContains(t, body, "<script>alert(1)", "a code from outside is escaped")
	require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, body, "http://", "nothing fetched from elsewhere")
	require.NotContains(t, body, "https://")

	resp, body = get("/status.json")
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var s status.Snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	require.Equal(t, 7.0, s.Operations[0].Backlog)

	resp, _ = get("/other")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
}
