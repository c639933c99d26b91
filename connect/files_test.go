package connect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/files"
)

// TestFilesThroughTheWorker: a file put with the SDK is attached to a
// service request by reference (a typed operation with AttachFile), the
// worker streams it into the call, and downloading it gives back the
// same bytes; OpenFile reads the object back, checked.
func TestFilesThroughTheWorker(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, setupOpts{files: true})
	author := b.emu.SeedClientUsers(1)[0]
	c := b.client(t, "")
	content := make([]byte, 300<<10) // more than a chunk of the Object Store
	_, _ = rand.Read(content)

	ref, err := c.PutFile(ctx, "logs.bin", bytes.NewReader(content))
	require.NoError(t, err)
	require.Equal(t, files.DefaultBucket, ref.Bucket)
	require.True(t, strings.HasPrefix(ref.Name, "uploads/") && strings.HasSuffix(ref.Name, "/logs.bin"), ref.Name)
	require.EqualValues(t, len(content), ref.Size)
	require.True(t, strings.HasPrefix(ref.Digest, "SHA-256="))

	rc, err := c.OpenFile(ctx, ref)
	require.NoError(t, err)
	back, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, content, back)

	add, err := c.Do(ctx, ops.ServiceRequestAdd{Summary: connect.Set("Logs attached")})
	require.NoError(t, err)
	var req struct{ ServiceRequestID string }
	require.NoError(t, add.Decode(&req))
	attach, err := c.Do(ctx, connect.AttachFile(ops.ServiceRequestAttachFile{
		ServiceRequestID: req.ServiceRequestID, AuthorID: author, Name: "logs.bin", Hash: "not checked",
	}, "Data", ref))
	require.NoError(t, err)
	var file struct{ FileID string }
	require.NoError(t, attach.Decode(&file))
	down, err := c.Do(ctx, ops.ServiceRequestDownloadFile{FileID: file.FileID})
	require.NoError(t, err)
	data, ok := down.Data.(map[string]any)
	require.True(t, ok, "%T", down.Data)
	if got, isRef := connect.AsFileRef(data["fileData"]); isRef {
		rc, err := c.OpenFile(ctx, got)
		require.NoError(t, err)
		defer rc.Close()
		back, err = io.ReadAll(rc)
		require.NoError(t, err)
	} else {
		s, isString := data["fileData"].(string)
		require.True(t, isString, "%T", data["fileData"])
		back, err = base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)
	}
	require.Equal(t, content, back, "the service got the file's bytes")
}

// TestFileRefusals: what OpenFile and PutFile refuse, by sentinel.
func TestFileRefusals(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, setupOpts{files: true})
	c := b.client(t, "", connect.WithFilesBucket(files.DefaultBucket, 1<<10))
	ref, err := c.PutFile(ctx, "small.txt", strings.NewReader("hello"))
	require.NoError(t, err)
	_, err = c.PutFile(ctx, "big.bin", bytes.NewReader(make([]byte, 2<<10)))
	require.ErrorIs(t, err, connect.ErrFileRefused, "more than the limit")
	_, err = c.PutFile(ctx, "../etc/passwd", strings.NewReader("x"))
	require.ErrorContains(t, err, "without slashes")

	other := ref
	other.Bucket = "KV_CONNECT_OUTCOMES"
	changed := ref
	changed.Digest = "SHA-256=AAAA"
	missing := ref
	missing.Name = "uploads/none/none.txt"
	cases := []struct {
		name string
		ref  connect.FileRef
		want error
	}{
		{"another bucket", other, connect.ErrFileRefused},
		{"another digest", changed, connect.ErrFileRefused},
		{"no such object", missing, connect.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.OpenFile(ctx, tc.ref)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// TestFileRefWire: a reference marshals to {"$object": …} in both
// formats, reads back, and is recognized in decoded data; what is not
// quite a reference is not one.
func TestFileRefWire(t *testing.T) {
	t.Parallel()
	ref := connect.FileRef{Bucket: "CONNECT_FILES", Name: "uploads/x/a.zip", Size: 5, Digest: "SHA-256=abc"}
	j, err := json.Marshal(map[string]any{"Data": ref})
	require.NoError(t, err)
	require.JSONEq(t, `{"Data":{"$object":{"bucket":"CONNECT_FILES","name":"uploads/x/a.zip","size":5,"digest":"SHA-256=abc"}}}`, string(j))
	var back struct{ Data connect.FileRef }
	require.NoError(t, json.Unmarshal(j, &back))
	require.Equal(t, ref, back.Data)

	m, err := msgpack.Marshal(map[string]any{"Data": ref})
	require.NoError(t, err)
	var decoded map[string]any
	require.NoError(t, msgpack.Unmarshal(m, &decoded))
	got, ok := connect.AsFileRef(decoded["Data"])
	require.True(t, ok)
	require.Equal(t, ref, got)

	var generic map[string]any
	require.NoError(t, json.Unmarshal(j, &generic))
	got, ok = connect.AsFileRef(generic["Data"])
	require.True(t, ok)
	require.Equal(t, ref, got)

	for name, v := range map[string]any{
		"a string":         "CONNECT_FILES/x",
		"no name":          map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES"}},
		"another key too":  map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES", "name": "x"}, "y": 1},
		"a bad bucket":     map[string]any{"$object": map[string]any{"bucket": "A.B", "name": "x"}},
		"a negative size":  map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES", "name": "x", "size": -1.0}},
		"an unprintable":   map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES", "name": "x\x00"}},
		"an unknown field": map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES", "name": "x", "path": "/"}},
	} {
		_, ok := connect.AsFileRef(v)
		require.False(t, ok, name)
	}
	var bad connect.FileRef
	require.Error(t, json.Unmarshal([]byte(`{"bucket":"CONNECT_FILES","name":"x"}`), &bad), "a bare object is not a reference")
}
