package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

func store(t *testing.T, maxObject int64) *files.Store {
	t.Helper()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	s, err := files.Open(context.Background(), files.Config{JetStream: js, MaxObjectBytes: maxObject})
	require.NoError(t, err)
	return s
}

func TestPutStatOpen(t *testing.T) {
	t.Parallel()
	s := store(t, 4<<20)
	ctx := context.Background()
	data := make([]byte, 3<<20+17)
	_, _ = rand.Read(data)
	ref, err := s.Put(ctx, "uploads/report.pdf", bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, files.DefaultBucket, ref.Bucket)
	require.Equal(t, int64(len(data)), ref.Size)
	require.True(t, strings.HasPrefix(ref.Digest, "SHA-256="), ref.Digest)

	// A producer's reference names bucket and name only.
	got, err := s.Stat(ctx, files.Ref{Bucket: ref.Bucket, Name: ref.Name})
	require.NoError(t, err)
	require.Equal(t, ref, got, "Stat completes the reference")
	b := s.Blob(got)
	require.Equal(t, int64(len(data)), b.Size())
	r, err := b.Open(ctx)
	require.NoError(t, err)
	back, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.True(t, bytes.Equal(data, back), "read back byte for byte")

	t.Run("too large", func(t *testing.T) {
		_, err := s.Put(ctx, "uploads/big", io.LimitReader(rand.Reader, 4<<20+1))
		require.ErrorIs(t, err, files.ErrTooLarge)
		_, err = s.Stat(ctx, files.Ref{Bucket: files.DefaultBucket, Name: "uploads/big"})
		require.ErrorIs(t, err, files.ErrNotFound, "nothing is left of a refused object")
		ok, err := s.Put(ctx, "uploads/exact", io.LimitReader(rand.Reader, 4<<20))
		require.NoError(t, err, "exactly the limit is allowed")
		require.Equal(t, int64(4<<20), ok.Size)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := s.Stat(ctx, files.Ref{Bucket: files.DefaultBucket, Name: "nope"})
		require.ErrorIs(t, err, files.ErrNotFound)
		require.ErrorContains(t, err, `object "nope" of bucket CONNECT_FILES`)
		_, err = s.Open(ctx, files.Ref{Bucket: files.DefaultBucket, Name: "nope"})
		require.ErrorIs(t, err, files.ErrNotFound)
	})
	t.Run("another bucket", func(t *testing.T) {
		_, err := s.Stat(ctx, files.Ref{Bucket: "KV_CONNECT_QUOTA", Name: ref.Name})
		require.ErrorIs(t, err, files.ErrOtherBucket)
		_, err = s.Open(ctx, files.Ref{Bucket: "OTHER", Name: ref.Name})
		require.ErrorIs(t, err, files.ErrOtherBucket)
	})
	t.Run("changed since", func(t *testing.T) {
		_, err := s.Put(ctx, "uploads/report.pdf", strings.NewReader("another report"))
		require.NoError(t, err)
		_, err = s.Stat(ctx, ref)
		require.ErrorIs(t, err, files.ErrChanged)
	})
	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"", strings.Repeat("x", 1025), "a\x00b"} {
			_, err := s.Put(ctx, name, strings.NewReader("x"))
			require.Error(t, err)
		}
	})
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	decode := func(s string) any {
		var v any
		require.NoError(t, json.Unmarshal([]byte(s), &v))
		return v
	}
	cases := []struct {
		name string
		v    any
		ok   bool
		want files.Ref
		err  string
	}{
		{name: "a string", v: "hello"},
		{name: "a map without the key", v: decode(`{"bucket":"CONNECT_FILES"}`)},
		{name: "a reference", v: decode(`{"$object":{"bucket":"CONNECT_FILES","name":"a/b.txt"}}`), ok: true,
			want: files.Ref{Bucket: "CONNECT_FILES", Name: "a/b.txt"}},
		{name: "with size and digest", v: decode(`{"$object":{"bucket":"B","name":"n","size":12,"digest":"SHA-256=x"}}`), ok: true,
			want: files.Ref{Bucket: "B", Name: "n", Size: 12, Digest: "SHA-256=x"}},
		{name: "another key beside", v: decode(`{"$object":{"bucket":"B","name":"n"},"x":1}`), ok: true, err: "takes no other key"},
		{name: "not an object", v: decode(`{"$object":"CONNECT_FILES/n"}`), ok: true, err: "is not an object"},
		{name: "no bucket", v: decode(`{"$object":{"name":"n"}}`), ok: true, err: "bucket is required"},
		{name: "a subject for a bucket", v: decode(`{"$object":{"bucket":"$KV.X.>","name":"n"}}`), ok: true, err: "not a bucket name"},
		{name: "no name", v: decode(`{"$object":{"bucket":"B"}}`), ok: true, err: "name is required"},
		{name: "a long name", v: decode(`{"$object":{"bucket":"B","name":"` + strings.Repeat("n", 1025) + `"}}`), ok: true, err: "longer than"},
		{name: "a control character", v: decode(`{"$object":{"bucket":"B","name":"a\u0007"}}`), ok: true, err: "not printable"},
		{name: "a negative size", v: decode(`{"$object":{"bucket":"B","name":"n","size":-1}}`), ok: true, err: "size"},
		{name: "an unknown key", v: decode(`{"$object":{"bucket":"B","name":"n","owner":"me"}}`), ok: true, err: `unknown key "owner"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref, ok, err := files.ParseRef(c.v)
			require.Equal(t, c.ok, ok)
			if c.err != "" {
				require.ErrorIs(t, err, files.ErrBadRef)
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, ref)
		})
	}

	// msgpack decodes maps alike, and a reference encodes to the same form.
	b, err := msgpack.Marshal(files.Ref{Bucket: "B", Name: "n", Size: 3}.Wrap())
	require.NoError(t, err)
	var v any
	require.NoError(t, msgpack.Unmarshal(b, &v))
	ref, ok, err := files.ParseRef(v)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, files.Ref{Bucket: "B", Name: "n", Size: 3}, ref)
	j, err := json.Marshal(files.Ref{Bucket: "B", Name: "n"}.Wrap())
	require.NoError(t, err)
	require.JSONEq(t, `{"$object":{"bucket":"B","name":"n"}}`, string(j))
}
