package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/dlqtest"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestDLQ drives `enqueue dlq` against dead letters the real worker
// made: ls as a table and filtered, show by id, by sequence and refusing
// an ambiguous number, replay refusing an UNKNOWN_OUTCOME Add without
// -force and redacted fields without -fields, then succeeding once the
// sandbox works again, and purge asking for -yes.
func TestDLQ(t *testing.T) {
	t.Parallel()
	b := dlqtest.Start(t, dlqtest.Broken)
	users := b.Emu.SeedClientUsers(2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	nc, _ := natstest.Connect(t, b.Srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	// e-1 first, so that its dead letter is sequence 1 and the id "1"
	// (another edit) is a number that names two dead letters.
	edit := func(user, id string) {
		_, err := c.Do(ctx, ops.ClientUserEdit{ClientUserID: user, Name: "Анна", Password: "secret1", Phone: "1", EMail: "a@b.c"}, connect.WithID(id))
		require.ErrorIs(t, err, connect.ErrTransportError)
	}
	edit(users[0], "e-1")
	edit(users[1], "1")
	_, err = c.Do(ctx, ops.DepartmentAdd{Name: connect.Set("Support")}, connect.WithID("a-1"))
	require.ErrorIs(t, err, connect.ErrUnknownOutcome)

	env := func(k string) string {
		if k == "NATS_URL" {
			return b.Srv.ClientURL()
		}
		return ""
	}
	do := func(stdin string, args ...string) (string, string, error) {
		cfg, err := parseConfig(append([]string{"dlq"}, args...), env, &bytes.Buffer{})
		if err != nil {
			return "", "", err
		}
		var stdout, stderr bytes.Buffer
		cfg.client.Stdout, cfg.client.Stderr = &stdout, &stderr
		cfg.stdin = strings.NewReader(stdin)
		err = run(ctx, cfg)
		return stdout.String(), stderr.String(), err
	}
	rows := func(table string) []string {
		lines := strings.Split(strings.TrimSpace(table), "\n")
		require.Regexp(t, `^SEQ\s+ID\s+OP\s+CODE\s+REASON\s+AGE$`, lines[0])
		return lines[1:]
	}

	t.Run("ls", func(t *testing.T) {
		out, _, err := do("", "ls")
		require.NoError(t, err)
		got := rows(out)
		require.Len(t, got, 3)
		require.Regexp(t, `^1\s+e-1\s+ClientUserEdit\s+TRANSPORT_ERROR\s+retries exhausted: .*\s\d+s$`, got[0])
		require.Regexp(t, `^3\s+a-1\s+DepartmentAdd\s+UNKNOWN_OUTCOME\s+outcome unknown, not repeated: .*\s\d+s$`, got[2])
		out, _, err = do("", "ls", "ClientUserEdit", "-code", "TRANSPORT_ERROR")
		require.NoError(t, err)
		require.Len(t, rows(out), 2)
		out, _, err = do("", "ls", "-op", "DepartmentAdd")
		require.NoError(t, err)
		require.Len(t, rows(out), 1)
		out, _, err = do("", "ls", "-after", "1", "-limit", "1")
		require.NoError(t, err)
		require.Regexp(t, `^2\s+1\s+ClientUserEdit`, rows(out)[0])
		require.Len(t, rows(out), 1)
	})
	t.Run("show", func(t *testing.T) {
		out, _, err := do("", "show", "e-1")
		require.NoError(t, err)
		var v struct {
			Seq      uint64
			ID, Code string
			Format   string
			Fields   map[string]any
			Redacted []string
		}
		require.NoError(t, json.Unmarshal([]byte(out), &v))
		require.Equal(t, uint64(1), v.Seq)
		require.Equal(t, "e-1", v.ID)
		require.Equal(t, contract.CodeTransportError, v.Code)
		require.Equal(t, "json", v.Format)
		require.Equal(t, contract.Redacted, v.Fields["Password"])
		require.Equal(t, []string{"Password"}, v.Redacted)
		require.NotContains(t, out, "secret1")

		out, _, err = do("", "show", "3")
		require.NoError(t, err)
		require.Contains(t, out, `"id": "a-1"`)
		_, _, err = do("", "show", "1")
		require.ErrorContains(t, err, `"1" names 2 dead letters; give the sequence`)
		_, _, err = do("", "show", "nope")
		require.ErrorContains(t, err, `no dead letter has the id or sequence "nope"`)
	})
	b.Switch.Set(dlqtest.Open)
	t.Run("replay", func(t *testing.T) {
		_, _, err := do("", "replay", "a-1")
		require.ErrorContains(t, err, "1 of 1 not replayed")
		out, _, _ := do("", "replay", "a-1")
		require.Contains(t, out, "DepartmentAdd is not safe to send twice")
		require.Contains(t, out, "replay with force")
		require.Zero(t, b.Emu.Stats().Calls["DepartmentAdd"])
		out, diag, err := do("", "replay", "a-1", "-force")
		require.NoError(t, err, out)
		require.Regexp(t, `^3\s+DepartmentAdd\s+a-1\s+replayed as a-1-replay-3: SUCCESS\n$`, out)
		require.Contains(t, diag, "1 dead letters, 1 replayed with SUCCESS, 0 not")

		out, _, err = do("", "replay", "-code", "TRANSPORT_ERROR")
		require.ErrorContains(t, err, "2 of 2 not replayed")
		require.Contains(t, out, "give it with the replay's fields")
		require.NotContains(t, out, "secret1")
		fields := filepath.Join(t.TempDir(), "fields.json")
		require.NoError(t, os.WriteFile(fields, []byte(`{"Password":"secret1"}`), 0o600))
		out, _, err = do("", "replay", "-op", "ClientUserEdit", "-fields", fields, "-delete")
		require.NoError(t, err, out)
		require.Contains(t, out, "replayed as e-1-replay-1: SUCCESS (dead letter deleted)")
		require.Contains(t, out, "replayed as 1-replay-2: SUCCESS (dead letter deleted)")
		require.NotContains(t, out, "secret1")
		_, _, err = do(`{"Password":`, "replay", "a-1", "-fields", "-")
		require.ErrorContains(t, err, "-fields: want a JSON object of fields")
	})
	t.Run("purge", func(t *testing.T) {
		_, _, err := do("", "purge")
		require.ErrorContains(t, err, "would delete 1 dead letters; add -yes")
		_, _, err = do("", "purge", "-code", "TRANSPORT_ERROR", "-yes")
		require.NoError(t, err)
		out, _, err := do("", "ls")
		require.NoError(t, err)
		require.Len(t, rows(out), 1, "only the add's is left")
		_, _, err = do("", "purge", "a-1")
		require.ErrorContains(t, err, "would delete dead letter 3 (DepartmentAdd a-1); add -yes")
		out, _, err = do("", "purge", "a-1", "-yes")
		require.NoError(t, err)
		require.Equal(t, "deleted dead letter 3 (DepartmentAdd a-1)\n", out)
		out, _, err = do("", "ls")
		require.NoError(t, err)
		require.Empty(t, rows(out))
		out, _, err = do("", "purge", "-yes")
		require.NoError(t, err)
		require.Equal(t, "deleted 0 dead letters\n", out)
	})
}

// TestParseDLQ refuses what dlq cannot do, before connecting.
func TestParseDLQ(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no verb", []string{"dlq"}, "give one of ls, show, replay, purge"},
		{"unknown verb", []string{"dlq", "rm"}, "give one of ls, show, replay, purge"},
		{"show without argument", []string{"dlq", "show"}, "give a dead letter's id or sequence"},
		{"replay without selection", []string{"dlq", "replay"}, "or -op or -code"},
		{"two arguments", []string{"dlq", "show", "a", "b"}, "one argument at most"},
		{"a publishing flag", []string{"-wait", "dlq", "ls"}, "-wait does not apply to dlq"},
		{"operation twice", []string{"dlq", "ls", "A", "-op", "B"}, "the operation given twice"},
		{"limit too large", []string{"dlq", "ls", "-limit", "100000"}, "want at most 10000"},
		{"force is replay's", []string{"dlq", "ls", "-force"}, "flag provided but not defined: -force"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(string) string { return "" }, &bytes.Buffer{})
			require.ErrorContains(t, err, tc.want)
		})
	}
	cfg, err := parseConfig([]string{"-s", "nats://x:4222", "dlq", "replay", "-code", "TRANSPORT_ERROR", "-force", "-limit", "5"}, func(string) string { return "" }, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "nats://x:4222", cfg.conn.Server)
	require.Equal(t, &dlqCmd{verb: "replay", code: "TRANSPORT_ERROR", force: true, limit: 5, stream: contract.DLQStream, prefix: contract.DLQPrefix}, withoutClock(cfg.dlq))
}

// withoutClock drops the function a dlqCmd holds, for comparing.
func withoutClock(dc *dlqCmd) *dlqCmd {
	c := *dc
	c.now = nil
	return &c
}

// TestBoundLineAndAge: a reason is one bounded line, an age brief.
func TestBoundLineAndAge(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b c", boundLine("a\nb\x1bc", 10))
	require.Equal(t, "ab…", boundLine("abc", 2))
	require.Equal(t, "x y", boundLine("x\u202ey", 10), "bidi override")
	require.True(t, regexp.MustCompile(`^Ан…$`).MatchString(boundLine("Анна", 2)))
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m",
		3*time.Hour + 5*time.Minute: "3h05m", 100 * time.Hour: "4d",
	} {
		require.Equal(t, want, age(d))
	}
}
