package soap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// patternBlob is size bytes of a repeating pattern, made as they are read:
// it is never in memory whole. claim is the size it reports (size when 0).
type patternBlob struct {
	size, claim int64
	openErr     error
	opened      atomic.Int32
}

func (b *patternBlob) Size() int64 {
	if b.claim != 0 {
		return b.claim
	}
	return b.size
}

func (b *patternBlob) Open(context.Context) (io.ReadCloser, error) {
	if b.openErr != nil {
		return nil, b.openErr
	}
	b.opened.Add(1)
	return io.NopCloser(io.LimitReader(&pattern{}, b.size)), nil
}

type pattern struct{ n byte }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.n
		p.n = p.n*31 + 7
	}
	return len(b), nil
}

// patternDigest is the SHA-256 of n bytes of the pattern.
func patternDigest(n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, io.LimitReader(&pattern{}, n))
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// blobServer decodes each request's Data child and answers with its
// content's digest as ResultData; it checks the Content-Length too.
func blobServer(t *testing.T) *httptest.Server {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if int64(len(body)) != r.ContentLength {
			http.Error(w, "content length", http.StatusBadRequest)
			return
		}
		_, req, err := soap.DecodeRequestBytes(body, soap.Limits{MaxBytes: 64 << 20, MaxRowBytes: 64 << 20})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var data string
		for _, c := range req.Children {
			if c.Name == "Data" {
				data = c.Value.Text
			}
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := sha256.Sum256(raw)
		_ = soap.EncodeResponse(w, soap.SOAP11, &soap.Response{Op: req.Op, Code: soap.CodeSuccess, Data: soap.Binary(d[:])})
	}))
	t.Cleanup(hs.Close)
	return hs
}

func attach(b soap.Blob) *soap.Request {
	return &soap.Request{Op: "ServiceRequestAttachFile", Children: []soap.Property{
		{Name: "ServiceRequestID", Value: soap.String("00000000-0000-4000-8000-000000000001")},
		{Name: "Name", Value: soap.String("big.bin")},
		{Name: "Data", Value: soap.Stream(b)},
	}}
}

// TestStreamedValue sends a 12 MB file streamed from a Blob: the service
// receives it whole, base64-encoded, with the right Content-Length, and
// the client's heap never grows by anything near the file's size.
func TestStreamedValue(t *testing.T) {
	t.Parallel()
	hs := blobServer(t)
	c, err := soap.New(soap.Config{URL: hs.URL})
	require.NoError(t, err)
	ctx := context.Background()
	for _, size := range []int64{0, 1, 2, 3, 4, 12 << 20} {
		b := &patternBlob{size: size}
		resp, err := c.Call(ctx, attach(b))
		require.NoError(t, err, size)
		want := patternDigest(size)
		require.Equal(t, base64.StdEncoding.EncodeToString(want[:]), resp.Data.Text, "%d bytes arrived intact", size)
		require.Equal(t, int32(1), b.opened.Load(), "read once")
	}
}

// TestStreamedValueAllocates measures the client's allocations for a
// 32 MB streamed file: a fraction of the file, since it is never held.
func TestStreamedValueAllocates(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = soap.EncodeResponse(w, soap.SOAP11, &soap.Response{Op: "ServiceRequestAttachFile", Code: soap.CodeSuccess})
	}))
	t.Cleanup(hs.Close)
	c, err := soap.New(soap.Config{URL: hs.URL})
	require.NoError(t, err)
	const size = 32 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.Call(context.Background(), attach(&patternBlob{size: size}))
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(size/4), "the client allocated a large part of the file")
}

func TestStreamedValueErrors(t *testing.T) {
	t.Parallel()
	hs := blobServer(t)
	c, err := soap.New(soap.Config{URL: hs.URL})
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("shorter than its size", func(t *testing.T) {
		_, err := c.Call(ctx, attach(&patternBlob{size: 100, claim: 200}))
		var te *soap.TransportError
		require.ErrorAs(t, err, &te)
		require.False(t, te.Sent, "the request was never complete")
		require.ErrorContains(t, err, "blob length differs from its size")
	})
	t.Run("longer than its size", func(t *testing.T) {
		_, err := c.Call(ctx, attach(&patternBlob{size: 300, claim: 200}))
		var te *soap.TransportError
		require.ErrorAs(t, err, &te)
		require.False(t, te.Sent)
	})
	t.Run("cannot be opened", func(t *testing.T) {
		gone := errors.New("object gone")
		_, err := c.Call(ctx, attach(&patternBlob{size: 10, openErr: gone}))
		var te *soap.TransportError
		require.ErrorAs(t, err, &te)
		require.False(t, te.Sent)
		require.ErrorContains(t, err, "object gone")
	})
	t.Run("AppendRequest refuses it", func(t *testing.T) {
		var b bytes.Buffer
		err := soap.AppendRequest(&b, soap.SOAP11, attach(&patternBlob{size: 10}))
		require.ErrorContains(t, err, "a streamed value is sent by the Client only")
	})
	t.Run("a placeholder in a producer's text stays text", func(t *testing.T) {
		req := attach(&patternBlob{size: 10})
		req.Children[1].Value = soap.String("BLOB" + strings.Repeat("0", 32) + "N0E")
		resp, err := c.Call(ctx, req)
		require.NoError(t, err)
		want := patternDigest(10)
		require.Equal(t, base64.StdEncoding.EncodeToString(want[:]), resp.Data.Text)
	})
}
