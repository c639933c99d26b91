package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{
		"NATS_URL":              "nats://nats:4222",
		"CONNECT_PASSWORD_FILE": "/run/secrets/password",
		"QUOTA_NIGHT":           "22-06",
		"MAX_WAIT":              "750ms",
		"STREAM_REPLICAS":       "3",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseFlags([]string{"--limit", "ClientUserEdit=40", "--limit", "*=100", "--quota-window", "10s", "--quota-guard", "500ms", "--quota-reserve", "0"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "nats://nats:4222", cfg.NATS.Server)
	require.Equal(t, "/run/secrets/password", cfg.ConnectPasswordFile)
	require.Equal(t, worker.Duration(750*time.Millisecond), cfg.Worker.Defaults.MaxWait)
	require.Equal(t, 3, cfg.Worker.Replicas)
	require.Equal(t, map[string]int{"ClientUserEdit": 40, "*": 100}, cfg.Quota.Limits)
	require.Equal(t, 10*time.Second, cfg.Quota.Windows.Length)
	require.Equal(t, 500*time.Millisecond, cfg.Quota.Windows.Guard)
	require.Equal(t, "22-06", cfg.Quota.Windows.Night.String())
	require.Equal(t, -1.0, cfg.Quota.Reserve, "an explicit 0 means no reserve")
	require.Equal(t, "Europe/Moscow", cfg.Quota.Windows.Location.String())

	// A flag beats its environment variable.
	cfg, err = parseFlags([]string{"--max-wait", "5s"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, worker.Duration(5*time.Second), cfg.Worker.Defaults.MaxWait)
}

func TestParseFlagsConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{
		"defaults": {"max_wait": "1s", "max_pending": 500},
		"operations": {"ClientUserEdit": {"max_rows": 50, "max_wait": "200ms"}},
		"limits": {"ServiceRequestAdd": 40}
	}`), 0o600))
	cfg, err := parseFlags([]string{"--config", path, "--limit", "ServiceRequestAdd=10"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, worker.Duration(time.Second), cfg.Worker.Defaults.MaxWait, "the file's default beats the built-in one")
	require.Equal(t, 500, cfg.Worker.Defaults.MaxPending)
	require.Equal(t, 50, cfg.Worker.Ops["ClientUserEdit"].MaxRows)
	require.Equal(t, 10, cfg.Quota.Limits["ServiceRequestAdd"], "a --limit flag beats the file")

	cfg, err = parseFlags([]string{"--config", path, "--max-wait", "3s"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, worker.Duration(3*time.Second), cfg.Worker.Defaults.MaxWait, "a flag beats the file")
}

func TestParseFlagsRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"defaults": {"max_rowz": 5}}`), 0o600))
	cases := map[string][]string{
		"bad limit":          {"--limit", "ClientUserEdit"},
		"negative limit":     {"--limit", "ClientUserEdit=-1"},
		"limit given twice":  {"--limit", "ClientUserEdit=1", "--limit", "ClientUserEdit=2"},
		"bad night":          {"--night", "25-3"},
		"night of no hours":  {"--night", "05-05"},
		"bad zone":           {"--quota-tz", "Mars/Olympus"},
		"bad level":          {"--log-level", "loud"},
		"unknown flag":       {"--nope"},
		"stray argument":     {"extra"},
		"unknown config key": {"--config", bad},
		"missing config":     {"--config", filepath.Join(dir, "none.json")},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseFlags(args, func(string) string { return "" }, io.Discard)
			require.Error(t, err)
		})
	}
	_, err := parseFlags(nil, func(k string) string {
		if k == "MAX_WAIT" {
			return "soon"
		}
		return ""
	}, io.Discard)
	require.ErrorContains(t, err, "MAX_WAIT")
}

// TestHelpShowsNoSecret sets every secret the worker reads from the
// environment and checks that -h prints none of them, while the settings
// still reach the config.
func TestHelpShowsNoSecret(t *testing.T) {
	env := map[string]string{
		"CONNECT_PASSWORD": "api-secret-Zq81",
		"NATS_PASSWORD":    "nats-secret-Xw44",
		"NATS_TOKEN":       "nats-token-Vb07",
		"NATS_URL":         "nats://svc:url-secret-Kp33@nats:4222",
		"NATS_USER":        "svc",
	}
	getenv := func(k string) string { return env[k] }
	var help strings.Builder
	_, err := parseFlags([]string{"-h"}, getenv, &help)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, help.String(), "-connect-password", "the usage was printed")
	for _, sub := range []string{"worker feeds", "worker mirror get <Object> <id>", "worker mirror ls <Object>", "-feed", "-feed-share",
		"worker exports", "worker export rerun <Operation or export> --from <time> --to <time>", "-export", "-export-share", "-history-max-age"} {
		require.Contains(t, help.String(), sub)
	}
	for name, v := range env {
		if name == "NATS_USER" {
			continue
		}
		require.NotContains(t, help.String(), v, "%s shown by -h", name)
		require.NotContains(t, help.String(), "url-secret", "%s shown by -h", name)
	}

	cfg, err := parseFlags(nil, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "api-secret-Zq81", cfg.ConnectPassword)
	require.Equal(t, "nats-secret-Xw44", cfg.NATS.Password)
	require.Equal(t, "nats-token-Vb07", cfg.NATS.Token)
	require.Equal(t, env["NATS_URL"], cfg.NATS.Server)
	cfg, err = parseFlags([]string{"--nats-password", "from-flag"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "from-flag", cfg.NATS.Password, "a flag beats its variable")
}

// TestParseFlagsFeeds: feeds from FEEDS, from --feed (which replaces
// FEEDS), and from the config file, joined by one rule: a flag naming a
// file's feed sets its interval and keeps its other settings; other flags
// add feeds. The feeds' other settings have their defaults and their
// variables.
func TestParseFlagsFeeds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"feeds": [
		{"read": "ClientUserRead", "interval": "30s", "overlap": "90s", "since": "2026-01-01T00:00:00Z", "filters": {"ClientID": "00000000-0000-4000-9000-000000000001"}},
		{"name": "acme-users", "read": "ClientUserRead", "interval": "5m", "msgpack": true}
	]}`), 0o600))
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		feeds []feed.Feed
	}{
		{name: "none", feeds: nil},
		{name: "FEEDS", env: map[string]string{"FEEDS": "ClientUserRead=30s, SpecialistRead=1m"}, feeds: []feed.Feed{
			{Read: "ClientUserRead", Interval: feed.Duration(30 * time.Second)},
			{Read: "SpecialistRead", Interval: feed.Duration(time.Minute)},
		}},
		{name: "a flag replaces FEEDS", env: map[string]string{"FEEDS": "ClientUserRead=30s"}, args: []string{"--feed", "SpecialistRead=10s"}, feeds: []feed.Feed{
			{Read: "SpecialistRead", Interval: feed.Duration(10 * time.Second)},
		}},
		{name: "the file", args: []string{"--config", path}, feeds: []feed.Feed{
			{Read: "ClientUserRead", Interval: feed.Duration(30 * time.Second), Overlap: feed.Duration(90 * time.Second), Since: since,
				Filters: map[string]any{"ClientID": "00000000-0000-4000-9000-000000000001"}},
			{Name: "acme-users", Read: "ClientUserRead", Interval: feed.Duration(5 * time.Minute), Msgpack: true},
		}},
		{name: "flags over the file", args: []string{"--config", path, "--feed", "acme-users=1m", "--feed", "ClientUserRead=10s", "--feed", "DepartmentRead=2m"}, feeds: []feed.Feed{
			{Read: "ClientUserRead", Interval: feed.Duration(10 * time.Second), Overlap: feed.Duration(90 * time.Second), Since: since,
				Filters: map[string]any{"ClientID": "00000000-0000-4000-9000-000000000001"}},
			{Name: "acme-users", Read: "ClientUserRead", Interval: feed.Duration(time.Minute), Msgpack: true},
			{Read: "DepartmentRead", Interval: feed.Duration(2 * time.Minute)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseFlags(c.args, func(k string) string { return c.env[k] }, io.Discard)
			require.NoError(t, err)
			require.Equal(t, c.feeds, cfg.Feeds.Feeds)
			require.Equal(t, 0.5, cfg.Feeds.Share)
			require.Equal(t, 30*24*time.Hour, cfg.Feeds.TombstoneTTL)
			require.Equal(t, 7*24*time.Hour, cfg.Feeds.ChangeMaxAge)
			require.Equal(t, int64(1<<30), cfg.Feeds.MaxResponseBytes)
			require.Equal(t, 256, cfg.Feeds.Chunk)
			require.Equal(t, 15*time.Second, cfg.Feeds.LeaseTTL)
		})
	}

	env := map[string]string{"FEED_SHARE": "0.25", "FEED_TOMBSTONE_TTL": "24h", "CHANGE_MAX_AGE": "48h", "FEED_MAX_RESPONSE": "256MiB", "FEED_CHUNK": "64", "FEED_LEASE_TTL": "5s"}
	cfg, err := parseFlags(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 0.25, cfg.Feeds.Share)
	require.Equal(t, 24*time.Hour, cfg.Feeds.TombstoneTTL)
	require.Equal(t, 48*time.Hour, cfg.Feeds.ChangeMaxAge)
	require.Equal(t, int64(256<<20), cfg.Feeds.MaxResponseBytes)
	require.Equal(t, 64, cfg.Feeds.Chunk)
	require.Equal(t, 5*time.Second, cfg.Feeds.LeaseTTL)
	cfg, err = parseFlags([]string{"--feed-share", "0.8", "--feed-chunk", "16"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 0.8, cfg.Feeds.Share, "a flag beats its variable")
	require.Equal(t, 16, cfg.Feeds.Chunk)
}

func TestParseFlagsRejectsBadFeeds(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"feeds": [{"read": "ClientUserRead", "interval": "30s", "filterz": {}}]}`), 0o600))
	badInterval := filepath.Join(dir, "interval.json")
	require.NoError(t, os.WriteFile(badInterval, []byte(`{"feeds": [{"read": "ClientUserRead", "interval": "soon"}]}`), 0o600))
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "no interval", args: []string{"--feed", "ClientUserRead"}, want: "want <Read>=<interval>"},
		{name: "no read", args: []string{"--feed", "=30s"}, want: "want <Read>=<interval>"},
		{name: "bad interval", args: []string{"--feed", "ClientUserRead=often"}, want: `interval "often"`},
		{name: "zero interval", args: []string{"--feed", "ClientUserRead=0s"}, want: "positive duration"},
		{name: "twice", args: []string{"--feed", "ClientUserRead=1s", "--feed", "ClientUserRead=2s"}, want: "given twice"},
		{name: "bad FEEDS", env: map[string]string{"FEEDS": "ClientUserRead=30s,SpecialistRead"}, want: "FEEDS"},
		{name: "bad FEED_SHARE", env: map[string]string{"FEED_SHARE": "half"}, want: "FEED_SHARE"},
		{name: "zero share", args: []string{"--feed-share", "0"}, want: "--feed-share"},
		{name: "unknown key of a feed", args: []string{"--config", bad}, want: "filterz"},
		{name: "bad interval in the file", args: []string{"--config", badInterval}, want: "soon"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseFlags(c.args, func(k string) string { return c.env[k] }, io.Discard)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestParseFlagsExports: exports from EXPORTS, from --export (which
// replaces EXPORTS), and from the config file, joined by the feeds' rule:
// a flag naming a file's export (by name, or by operation) sets its
// interval and keeps its other settings; other flags add exports. The
// exports' other settings have their defaults and their variables.
func TestParseFlagsExports(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"exports": [
		{"op": "GetHistoryOfServiceCalls", "interval": "1h", "since": "2025-01-01T00:00:00+03:00", "chunk": "24h", "settle": "15m",
		 "filters": {"SpecialistID": "00000000-0000-4000-9000-000000000001"}, "id_column": "-", "night_backfill": true},
		{"name": "treatments-daily", "op": "GetHistoryOfServiceTreatments", "interval": "24h"}
	]}`), 0o600))
	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3*60*60))
	calls := export.Export{Op: "GetHistoryOfServiceCalls", Interval: export.Duration(time.Hour), Since: since,
		Chunk: export.Duration(24 * time.Hour), Settle: export.Duration(15 * time.Minute),
		Filters: map[string]any{"SpecialistID": "00000000-0000-4000-9000-000000000001"}, IDColumn: "-", NightBackfill: true}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		exports []export.Export
	}{
		{name: "none", exports: nil},
		{name: "EXPORTS", env: map[string]string{"EXPORTS": "GetHistoryOfServiceCalls=1h, GetHistoryOfServiceTreatments=2h"}, exports: []export.Export{
			{Op: "GetHistoryOfServiceCalls", Interval: export.Duration(time.Hour)},
			{Op: "GetHistoryOfServiceTreatments", Interval: export.Duration(2 * time.Hour)},
		}},
		{name: "a flag replaces EXPORTS", env: map[string]string{"EXPORTS": "GetHistoryOfServiceCalls=1h"}, args: []string{"--export", "GetHistoryOfSIPCalls=30m"}, exports: []export.Export{
			{Op: "GetHistoryOfSIPCalls", Interval: export.Duration(30 * time.Minute)},
		}},
		{name: "the file", args: []string{"--config", path}, exports: []export.Export{
			calls,
			{Name: "treatments-daily", Op: "GetHistoryOfServiceTreatments", Interval: export.Duration(24 * time.Hour)},
		}},
		{name: "flags over the file", args: []string{"--config", path, "--export", "treatments-daily=6h", "--export", "GetHistoryOfServiceCalls=10m",
			"--export", "GetHistoryOfServiceTreatments=12h"}, exports: []export.Export{
			func() export.Export { x := calls; x.Interval = export.Duration(10 * time.Minute); return x }(),
			{Name: "treatments-daily", Op: "GetHistoryOfServiceTreatments", Interval: export.Duration(6 * time.Hour)},
			{Op: "GetHistoryOfServiceTreatments", Interval: export.Duration(12 * time.Hour)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseFlags(c.args, func(k string) string { return c.env[k] }, io.Discard)
			require.NoError(t, err)
			require.Equal(t, c.exports, cfg.Exports.Exports)
			require.Equal(t, 0.5, cfg.Exports.Share)
			require.Equal(t, 30*24*time.Hour, cfg.Exports.HistoryMaxAge)
			require.Equal(t, int64(64<<20), cfg.Exports.MaxResponseBytes)
			require.Equal(t, 15*time.Second, cfg.Exports.LeaseTTL)
		})
	}

	env := map[string]string{"EXPORT_SHARE": "0.25", "HISTORY_MAX_AGE": "240h", "EXPORT_MAX_RESPONSE": "8MiB", "EXPORT_LEASE_TTL": "5s"}
	cfg, err := parseFlags(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 0.25, cfg.Exports.Share)
	require.Equal(t, 240*time.Hour, cfg.Exports.HistoryMaxAge)
	require.Equal(t, int64(8<<20), cfg.Exports.MaxResponseBytes)
	require.Equal(t, 5*time.Second, cfg.Exports.LeaseTTL)
	cfg, err = parseFlags([]string{"--export-share", "1", "--history-max-age", "1h", "--export-max-response", "1MiB", "--export-lease-ttl", "3s"},
		func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1.0, cfg.Exports.Share, "a flag beats its variable")
	require.Equal(t, time.Hour, cfg.Exports.HistoryMaxAge)
	require.Equal(t, int64(1<<20), cfg.Exports.MaxResponseBytes)
	require.Equal(t, 3*time.Second, cfg.Exports.LeaseTTL)
}

func TestParseFlagsRejectsBadExports(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"exports": [{"op": "GetHistoryOfServiceCalls", "interval": "1h", "chunkz": "1h"}]}`), 0o600))
	badChunk := filepath.Join(dir, "chunk.json")
	require.NoError(t, os.WriteFile(badChunk, []byte(`{"exports": [{"op": "GetHistoryOfServiceCalls", "interval": "1h", "chunk": "weekly"}]}`), 0o600))
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "no interval", args: []string{"--export", "GetHistoryOfServiceCalls"}, want: "want <Operation>=<interval>, e.g. GetHistoryOfServiceCalls=1h"},
		{name: "no operation", args: []string{"--export", "=1h"}, want: "want <Operation>=<interval>"},
		{name: "bad interval", args: []string{"--export", "GetHistoryOfServiceCalls=hourly"}, want: `export GetHistoryOfServiceCalls: interval "hourly"`},
		{name: "negative interval", args: []string{"--export", "GetHistoryOfServiceCalls=-1h"}, want: "positive duration"},
		{name: "twice", args: []string{"--export", "GetHistoryOfServiceCalls=1h", "--export", "GetHistoryOfServiceCalls=2h"}, want: "export GetHistoryOfServiceCalls given twice"},
		{name: "bad EXPORTS", env: map[string]string{"EXPORTS": "GetHistoryOfServiceCalls=1h,GetHistoryOfServiceTreatments"}, want: "EXPORTS"},
		{name: "bad EXPORT_SHARE", env: map[string]string{"EXPORT_SHARE": "most"}, want: "EXPORT_SHARE"},
		{name: "bad HISTORY_MAX_AGE", env: map[string]string{"HISTORY_MAX_AGE": "a month"}, want: "HISTORY_MAX_AGE"},
		{name: "bad EXPORT_MAX_RESPONSE", env: map[string]string{"EXPORT_MAX_RESPONSE": "big"}, want: "EXPORT_MAX_RESPONSE"},
		{name: "zero share", args: []string{"--export-share", "0"}, want: "--export-share"},
		{name: "unknown key of an export", args: []string{"--config", bad}, want: "chunkz"},
		{name: "bad chunk in the file", args: []string{"--config", badChunk}, want: "weekly"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseFlags(c.args, func(k string) string { return c.env[k] }, io.Discard)
			require.ErrorContains(t, err, c.want)
		})
	}
}
