package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestPutAndGet stores a file with `enqueue put`, takes the reference it
// prints, and fetches the file back with `enqueue get`, by reference and
// by name; a missing object and a missing bucket are clear errors, and
// no half file is left behind.
func TestPutAndGet(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	env := func(k string) string {
		if k == "NATS_URL" {
			return srv.ClientURL()
		}
		return ""
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "report.pdf")
	data := make([]byte, 3<<20+5)
	_, _ = rand.Read(data)
	require.NoError(t, os.WriteFile(src, data, 0o600))
	do := func(args ...string) (string, string, error) {
		cfg, err := parseConfig(args, env, &bytes.Buffer{})
		if err != nil {
			return "", "", err
		}
		var stdout, stderr bytes.Buffer
		cfg.client.Stdout, cfg.client.Stderr = &stdout, &stderr
		err = run(ctx, cfg)
		return stdout.String(), stderr.String(), err
	}

	_, _, err := do("put", src)
	require.ErrorContains(t, err, "no files bucket CONNECT_FILES on this NATS (the worker creates it at start)")
	_, err = files.Open(ctx, files.Config{JetStream: js})
	require.NoError(t, err)

	out, _, err := do("put", src)
	require.NoError(t, err)
	var w files.Wrapped
	require.NoError(t, json.Unmarshal([]byte(out), &w))
	require.Equal(t, files.DefaultBucket, w.Object.Bucket)
	require.True(t, strings.HasPrefix(w.Object.Name, "uploads/") && strings.HasSuffix(w.Object.Name, "/report.pdf"), w.Object.Name)
	require.Equal(t, int64(len(data)), w.Object.Size)

	back := filepath.Join(dir, "back.pdf")
	_, diag, err := do("get", strings.TrimSpace(out), "-o", back)
	require.NoError(t, err)
	require.Contains(t, diag, w.Object.Digest)
	got, err := os.ReadFile(back)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "fetched byte for byte")

	_, _, err = do("put", "-name", "docs/a.pdf", src)
	require.NoError(t, err)
	// Connection flags before the word count too.
	cfg, err := parseConfig([]string{"-s", "nats://127.0.0.1:1", "put", src}, env, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "nats://127.0.0.1:1", cfg.conn.Server)
	stdout, _, err := do("get", "docs/a.pdf", "-o", "-")
	require.NoError(t, err)
	require.Equal(t, len(data), len(stdout), "by name, to stdout")

	missing := filepath.Join(dir, "missing.pdf")
	_, _, err = do("get", "docs/none.pdf", "-o", missing)
	require.ErrorIs(t, err, files.ErrNotFound)
	_, statErr := os.Stat(missing)
	require.True(t, os.IsNotExist(statErr), "no half file")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "docs/a.pdf"}, "-o <file> is required"},
		{[]string{"put"}, "give one file"},
		{[]string{"put", "a", "b"}, "give one file"},
		{[]string{"-wait", "put", src}, "-wait does not apply to put"},
		{[]string{"get", `{"$object":{"bucket":"B"}}`, "-o", "-"}, "name is required"},
	} {
		_, _, err := do(c.args...)
		require.ErrorContains(t, err, c.want, c.args)
	}
}
