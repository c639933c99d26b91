package k8s_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	dashboardFile = "components/grafana/dashboard.json"
	rulesFile     = "components/grafana/rules.yaml"
)

// prometheusRule is the part of the Prometheus Operator's PrometheusRule
// (monitoring.coreos.com/v1) that the manifests use.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval,omitempty"`
			Rules    []struct {
				Alert       string            `json:"alert,omitempty"`
				Record      string            `json:"record,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// dashboardExprs returns every PromQL expression of a Grafana dashboard's
// panels and variables, by where it is.
func dashboardExprs(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.UID, "a dashboard needs a stable uid")
	out := map[string]string{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for i, tg := range p.Targets {
			out[p.Title+"#"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// grafanaVars replaces the dashboard's variables by what Grafana puts in
// their place, so that the expression parses as Prometheus would get it.
var grafanaVars = strings.NewReplacer(`$__rate_interval`, `5m`, `"$op"`, `".*"`)

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, p parser.Parser, where, expr string) []string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	require.NoError(t, err, "%s: %s", where, expr)
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	require.NotEmpty(t, names, "%s selects no metric", where)
	return names
}

// documentedSeries are the series the README names: the worker's, the
// feeds' and the exports'. The worker's metrics test scrapes a real worker
// and checks that it exports every one of them.
func documentedSeries(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	out := map[string]bool{}
	for _, name := range regexp.MustCompile(`connect_(worker|feed|export)_[a-z_]+[a-z]`).FindAllString(string(readme), -1) {
		out[name] = true
	}
	return out
}

// seriesOf is the series a selected name belongs to: a histogram's
// _bucket, _sum and _count are its own.
func seriesOf(name string, known map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && known[base] {
			return base
		}
	}
	return name
}

// TestDashboardAndRules: every PromQL expression of the dashboard and of
// the alert rules parses, and every metric they name is one the README
// documents (and so one the worker exports: see cmd/worker's metrics
// test); the rules alert on what an operator must know; the dashboard
// ConfigMap is one Grafana's sidecar loads.
func TestDashboardAndRules(t *testing.T) {
	t.Parallel()
	p := parser.NewParser(parser.Options{})
	known := documentedSeries(t)
	used := map[string]bool{}

	data, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	exprs := dashboardExprs(t, data)
	require.GreaterOrEqual(t, len(exprs), 15)
	for where, expr := range exprs {
		for _, name := range metricNames(t, p, "dashboard "+where, grafanaVars.Replace(expr)) {
			s := seriesOf(name, known)
			require.True(t, known[s], "dashboard %s names %s, which the README does not document", where, name)
			used[s] = true
		}
	}

	raw, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	var rule prometheusRule
	require.NoError(t, decodeStrict(raw, &rule), rulesFile)
	require.Equal(t, "PrometheusRule", rule.Kind)
	var alerts []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s: a rule without an alert name", g.Name)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			require.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], r.Alert)
			for _, name := range metricNames(t, p, "rule "+r.Alert, r.Expr) {
				s := seriesOf(name, known)
				require.True(t, known[s], "rule %s names %s, which the README does not document", r.Alert, name)
				used[s] = true
			}
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"ConnectBridgeLaneNotDraining", "ConnectBridgeDeadLettersGrowing", "ConnectBridgeQuotaSpentEarly",
		"ConnectBridgeNotReady", "ConnectBridgeFeedLagging"} {
		require.True(t, slices.Contains(alerts, want), "no alert %s", want)
	}
	for _, must := range []string{"connect_worker_queue_depth", "connect_worker_packet_rows", "connect_worker_quota_used", "connect_worker_quota_limit",
		"connect_worker_quota_reset_timestamp_seconds", "connect_worker_results_total", "connect_worker_api_latency_seconds",
		"connect_worker_dead_letters_total", "connect_feed_lag_seconds", "connect_export_lag_seconds"} {
		require.True(t, used[must], "the dashboard and rules never show %s", must)
	}

	// The dashboard's ConfigMap, as the example overlay builds it.
	b := build(t, exampleOverlay, nil)
	cm, ok := b.configMaps["connect-bridge-dashboard"]
	require.True(t, ok, "the example overlay has no dashboard ConfigMap")
	require.NotNil(t, b.rules, "the example overlay has no PrometheusRule")
	require.Equal(t, b.deployment.Namespace, b.rules.Namespace)
	require.Equal(t, "1", cm.Labels["grafana_dashboard"], "Grafana's sidecar loads ConfigMaps with this label")
	require.JSONEq(t, string(data), cm.Data["connect-bridge.json"])
}
