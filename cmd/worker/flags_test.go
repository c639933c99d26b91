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
