package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestMain fails the run if run leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}

const secret = "s3cret-from-env"

func TestParseConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.creds")
	edit := []string{"ClientUserEdit", `{"id":"c-1"}`}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, cfg config)
		wantErr string
	}{
		{
			name: "defaults",
			args: edit,
			check: func(t *testing.T, cfg config) {
				require.Equal(t, natsconn.DefaultServer, cfg.conn.Server)
				require.Equal(t, "json", cfg.client.Format)
				require.Equal(t, contract.CommandPrefix, cfg.client.SubjectPrefix)
				require.Equal(t, 2*time.Minute, cfg.client.Timeout)
				require.Equal(t, 4096, cfg.client.MaxPending)
				require.False(t, cfg.client.Wait)
				require.Equal(t, 1, cfg.args.Total)
			},
		},
		{
			name: "flags",
			args: append([]string{"--server", "nats://a:4222", "--wait", "--timeout", "5s", "--format", "msgpack",
				"--subject-prefix", "x.cmd.", "--max-pending", "16", "--bucket", "B", "--result-stream", "R"}, edit...),
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "nats://a:4222", cfg.conn.Server)
				require.True(t, cfg.client.Wait)
				require.Equal(t, 5*time.Second, cfg.client.Timeout)
				require.Equal(t, "msgpack", cfg.client.Format)
				require.Equal(t, "x.cmd.", cfg.client.SubjectPrefix)
				require.Equal(t, 16, cfg.client.MaxPending)
				require.Equal(t, "B", cfg.client.Bucket)
				require.Equal(t, "R", cfg.client.ResultStream)
			},
		},
		{
			name: "environment",
			args: edit,
			env:  map[string]string{"NATS_URL": "nats://env:4222", "NATS_USER": "u", "NATS_PASSWORD": secret},
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "nats://env:4222", cfg.conn.Server)
				require.Equal(t, "u", cfg.conn.User)
				require.Equal(t, secret, cfg.conn.Password)
			},
		},
		{
			name: "a flag wins over the environment, -s too",
			args: append([]string{"-s", "nats://flag:4222", "--token", "t"}, edit...),
			env:  map[string]string{"NATS_URL": "nats://env:4222", "NATS_TOKEN": secret},
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "nats://flag:4222", cfg.conn.Server)
				require.Equal(t, "t", cfg.conn.Token)
			},
		},
		{
			name: "file with op",
			args: []string{"-f", "cmds.jsonl", "--op", "ClientUserAdd"},
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "cmds.jsonl", cfg.file)
				require.Equal(t, "ClientUserAdd", cfg.op)
			},
		},
		{
			name: "result with flags on both sides",
			args: []string{"--timeout", "3s", "result", "--op", "ClientUserEdit", "c-1", "c-2"},
			check: func(t *testing.T, cfg config) {
				require.True(t, cfg.results)
				require.Equal(t, "ClientUserEdit", cfg.op)
				require.Equal(t, []string{"c-1", "c-2"}, cfg.ids)
				require.Equal(t, 3*time.Second, cfg.client.Timeout)
			},
		},
		{
			name: "result without op",
			args: []string{"result", "c-1"},
			check: func(t *testing.T, cfg config) {
				require.True(t, cfg.results)
				require.Empty(t, cfg.op)
			},
		},
		{
			name: "the workers' quota, for the estimate",
			args: append([]string{"--quota-window", "10s", "--quota-guard", "500ms", "--quota-tz", "UTC", "--night", "22-06",
				"--limit", "ClientUserEdit=5", "--limit", "*=100,ServiceRequestAdd=7", "--max-rows", "ClientUserEdit=50",
				"--call-time", "1.5s", "--quota-reserve", "0"}, edit...),
			check: func(t *testing.T, cfg config) {
				q := cfg.client.Quota
				require.Equal(t, 10*time.Second, q.Windows.Length)
				require.Equal(t, 500*time.Millisecond, q.Windows.Guard)
				require.Equal(t, "UTC", q.Windows.Location.String())
				require.Equal(t, "22-06", q.Windows.Night.String())
				require.Equal(t, map[string]int{"ClientUserEdit": 5, "*": 100, "ServiceRequestAdd": 7}, q.Limits.Override)
				require.Equal(t, -1.0, q.Limits.Reserve, "an explicit 0 is no reserve, as for the worker")
				require.NotNil(t, q.Limits.Catalogue)
				require.Equal(t, map[string]int{"ClientUserEdit": 50}, cfg.client.MaxRows)
				require.Equal(t, 1500*time.Millisecond, cfg.client.CallTime)
			},
		},
		{
			name: "the quota's defaults are the worker's; its environment too",
			args: edit,
			env:  map[string]string{"QUOTA_WINDOW": "30m", "QUOTA_NIGHT": "23-07"},
			check: func(t *testing.T, cfg config) {
				q := cfg.client.Quota
				require.Equal(t, 30*time.Minute, q.Windows.Length)
				require.Equal(t, 2*time.Second, q.Windows.Guard)
				require.Equal(t, "Europe/Moscow", q.Windows.Location.String())
				require.Equal(t, "23-07", q.Windows.Night.String())
				require.Equal(t, 0.1, q.Limits.Reserve)
				require.Empty(t, q.Limits.Override)
			},
		},
		{name: "bad night", args: append([]string{"--night", "25-03"}, edit...), wantErr: "--night: night hours"},
		{name: "bad time zone", args: append([]string{"--quota-tz", "Mars/Olympus"}, edit...), wantErr: "--quota-tz"},
		{name: "guard too long", args: append([]string{"--quota-window", "2s", "--quota-guard", "1s"}, edit...), wantErr: "guard 1s is too long"},
		{name: "bad limit", args: append([]string{"--limit", "ClientUserEdit"}, edit...), wantErr: `want Op=n or *=n`},
		{name: "limit of an unknown operation", args: append([]string{"--limit", "Nope=3"}, edit...), wantErr: `unknown operation "Nope"`},
		{name: "no rows", args: append([]string{"--max-rows", "ClientUserEdit=0"}, edit...), wantErr: "--max-rows ClientUserEdit=0: want at least 1"},
		{name: "negative call time", args: append([]string{"--call-time", "-1s"}, edit...), wantErr: "--call-time -1s"},
		{name: "quota flag with result", args: []string{"--quota-window", "10s", "result", "c-1"}, wantErr: "-quota-window does not apply to result"},
		{name: "no command", wantErr: "no command"},
		{name: "odd arguments", args: []string{"ClientUserEdit"}, wantErr: "has no JSON command after it"},
		{name: "unknown operation", args: []string{"NoSuchOp", `{}`}, wantErr: `unknown operation "NoSuchOp"`},
		{name: "unknown operation allowed", args: []string{"--allow-unknown", "NoSuchOp", `{}`},
			check: func(t *testing.T, cfg config) { require.Equal(t, 1, cfg.args.Total) }},
		{name: "bad JSON", args: []string{"ClientUserEdit", `{`}, wantErr: "enqueue: argument pair 1: not a JSON object"},
		{name: "flag after a command", args: append(edit, "--wait"), wantErr: "flag --wait after a command: flags go before the first operation"},
		{name: "file and arguments", args: append([]string{"-f", "x"}, edit...), wantErr: "-f and command arguments"},
		{name: "op without file", args: append([]string{"--op", "ClientUserEdit"}, edit...), wantErr: "--op names the operation of a -f file"},
		{name: "unknown op for a file", args: []string{"-f", "x", "--op", "Nope"}, wantErr: `enqueue: --op: unknown operation "Nope"`},
		{name: "bad format", args: append([]string{"--format", "xml"}, edit...), wantErr: `format "xml"`},
		{name: "zero timeout", args: append([]string{"--timeout", "0s"}, edit...), wantErr: "--timeout 0s"},
		{name: "result without ids", args: []string{"result", "--op", "ClientUserEdit"}, wantErr: "give the ids"},
		{name: "publish flag with result", args: []string{"--wait", "result", "c-1"}, wantErr: "-wait does not apply to result"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "password without user", args: edit, env: map[string]string{"NATS_PASSWORD": secret},
			wantErr: "--password is set but --user is empty"},
		{name: "creds file missing", args: append([]string{"--creds", missing}, edit...), wantErr: missing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, &out)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), secret)
				return
			}
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	env := map[string]string{"NATS_PASSWORD": secret, "NATS_TOKEN": secret}
	_, err := parseConfig([]string{"-h"}, func(k string) string { return env[k] }, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	help := out.String()
	for _, want := range []string{
		"enqueue [flags] <Operation> '<json command>'",
		"enqueue [flags] -f cmds.jsonl",
		"enqueue [flags] result [-op Operation] <id>...",
		"O(stream)", "Exit status", "[NATS_URL]", "[NATS_CREDS]", "[NATS_NKEY]", "-wait", "-allow-unknown",
		"-quota-window", "[QUOTA_WINDOW]", "[QUOTA_NIGHT]", "-limit", "-max-rows", "≈ 3 h 40 min: 412 calls at 225 calls/h",
	} {
		require.Contains(t, help, want)
	}
	require.NotContains(t, help, secret)
}

func TestRun(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmds, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.CommandStream,
		Subjects: []string{contract.CommandPrefix + ">"}, Retention: jetstream.WorkQueuePolicy, Duplicates: 10 * time.Minute})
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.OutcomeBucket})
	require.NoError(t, err)
	env := func(k string) string {
		if k == "NATS_URL" {
			return srv.ClientURL()
		}
		return ""
	}

	// Publish from arguments and from a file.
	path := filepath.Join(t.TempDir(), "cmds.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"id\":\"f-1\"}\n# skipped\n{\"id\":\"f-2\"}\n"), 0o600))
	for _, args := range [][]string{
		{"ClientUserEdit", `{"id":"a-1","fields":{"Name":"Анна"}}`},
		{"-f", path, "--op", "ClientUserEdit"},
	} {
		cfg, err := parseConfig(args, env, &bytes.Buffer{})
		require.NoError(t, err)
		var stderr bytes.Buffer
		cfg.client.Stderr = &stderr
		require.NoError(t, run(ctx, cfg))
		require.Contains(t, stderr.String(), "0 malformed")
	}
	info, err := cmds.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(3), info.State.Msgs)

	// Read a result back from the bucket.
	res := contract.Result{ID: "a-1", Op: "ClientUserEdit", Code: contract.CodeSuccess}
	rec, err := contract.EncodeOutcome(contract.Outcome{State: contract.StateFinal, Result: &res})
	require.NoError(t, err)
	_, err = kv.Put(ctx, contract.OutcomeKey("ClientUserEdit", "a-1"), rec)
	require.NoError(t, err)
	cfg, err := parseConfig([]string{"result", "--op", "ClientUserEdit", "a-1"}, env, &bytes.Buffer{})
	require.NoError(t, err)
	var stdout bytes.Buffer
	cfg.client.Stdout = &stdout
	require.NoError(t, run(ctx, cfg))
	require.True(t, strings.HasPrefix(stdout.String(), `{"id":"a-1","op":"ClientUserEdit","code":"SUCCESS"`), stdout.String())

	// A run that cannot connect fails without a usage error.
	cfg, err = parseConfig([]string{"-s", "nats://u:" + secret + "@127.0.0.1:1", "result", "x"}, env, &bytes.Buffer{})
	require.NoError(t, err)
	err = run(ctx, cfg)
	require.ErrorContains(t, err, "natsconn: connect nats://***@127.0.0.1:1")
	require.NotContains(t, err.Error(), secret)
}
