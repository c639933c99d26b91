package soap

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Blob is the content of a binary value that is streamed into the request
// rather than held in Text: a file of the Object Store. The Client reads
// it once per call, base64-encodes it as it goes and never holds it
// whole.
type Blob interface {
	// Size is the content's length in bytes, known before it is read: the
	// request's Content-Length is computed from it.
	Size() int64
	// Open returns the content; the Client closes it.
	Open(ctx context.Context) (io.ReadCloser, error)
}

// Stream returns an xs:base64Binary value whose content is streamed from
// b when the request is sent.
func Stream(b Blob) Value { return Value{Kind: KindBinary, Blob: b} }

// errBlobSize is a blob that gave another length than its Size.
var errBlobSize = errors.New("blob length differs from its size")

// blobs returns the streamed values of req (which has some: hasBlob), in
// the order the encoder
// writes them, and a copy of req in which each is a placeholder: the
// text blobText(nonce, i), which the encoder writes as it is (base64
// characters need no escaping).
func blobs(req *Request, nonce string) (*Request, []Blob) {
	var found []Blob
	var sub func(v Value) Value
	sub = func(v Value) Value {
		switch {
		case v.Blob != nil:
			found = append(found, v.Blob)
			return Value{Kind: KindBinary, Text: blobText(nonce, len(found)-1)}
		case v.Kind == KindStructure:
			props := make([]Property, len(v.Props))
			for i, p := range v.Props {
				props[i] = Property{Name: p.Name, Value: sub(p.Value)}
			}
			v.Props = props
		case v.Kind == KindTable && v.Table != nil:
			t := *v.Table
			t.Rows = make([][]Value, len(v.Table.Rows))
			for i, row := range v.Table.Rows {
				t.Rows[i] = make([]Value, len(row))
				for j, c := range row {
					t.Rows[i][j] = sub(c)
				}
			}
			v.Table = &t
		}
		return v
	}
	out := *req
	out.Params = sub(req.Params)
	if req.Children != nil {
		out.Children = make([]Property, len(req.Children))
		for i, c := range req.Children {
			out.Children[i] = Property{Name: c.Name, Value: sub(c.Value)}
		}
	}
	return &out, found
}

// hasBlob reports whether req streams any value, without copying it.
func hasBlob(req *Request) bool {
	var in func(v Value) bool
	in = func(v Value) bool {
		switch {
		case v.Blob != nil:
			return true
		case v.Kind == KindStructure:
			for _, p := range v.Props {
				if in(p.Value) {
					return true
				}
			}
		case v.Kind == KindTable && v.Table != nil:
			for _, row := range v.Table.Rows {
				for _, c := range row {
					if c.Blob != nil {
						return true
					}
				}
			}
		}
		return false
	}
	if in(req.Params) {
		return true
	}
	for _, c := range req.Children {
		if in(c.Value) {
			return true
		}
	}
	return false
}

// blobText is the placeholder of the i-th blob: base64 characters only,
// with a random nonce no producer can guess.
func blobText(nonce string, i int) string { return "BLOB" + nonce + "N" + strconv.Itoa(i) + "E" }

// newNonce returns 32 random hex characters.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// streamedBody is a request body made of the encoded envelope's text with
// each blob's content, base64-encoded, read in place of its placeholder.
type streamedBody struct {
	ctx   context.Context
	parts [][]byte // the text around the blobs: len(blobs)+1 parts
	blobs []Blob
	// Reading state: the part or blob being read (2i: parts[i], 2i+1:
	// blobs[i]), and the blob's encoded reader.
	at  int
	cur io.ReadCloser
	mu  sync.Mutex // Close may come from the transport's goroutine
}

// newStreamedBody splits envelope at the placeholders of blobs.
func newStreamedBody(ctx context.Context, envelope []byte, nonce string, bs []Blob) (*streamedBody, int64, error) {
	body := &streamedBody{ctx: ctx, blobs: bs}
	rest := envelope
	length := int64(0)
	for i, b := range bs {
		ph := []byte(blobText(nonce, i))
		at := bytes.Index(rest, ph)
		if at < 0 || bytes.Contains(rest[at+len(ph):], ph) {
			return nil, 0, fmt.Errorf("soap: encode: streamed value %d not placed once", i)
		}
		body.parts = append(body.parts, rest[:at])
		rest = rest[at+len(ph):]
		if b.Size() < 0 {
			return nil, 0, fmt.Errorf("soap: encode: streamed value %d has a negative size", i)
		}
		length += int64(at) + int64(base64.StdEncoding.EncodedLen(int(b.Size())))
	}
	body.parts = append(body.parts, rest)
	return body, length + int64(len(rest)), nil
}

func (s *streamedBody) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.at < 2*len(s.blobs)+1 {
		if s.at%2 == 0 {
			part := &s.parts[s.at/2]
			if len(*part) > 0 {
				n := copy(p, *part)
				*part = (*part)[n:]
				return n, nil
			}
			s.at++
			continue
		}
		if s.cur == nil {
			r, err := encodeBlob(s.ctx, s.blobs[s.at/2])
			if err != nil {
				return 0, err
			}
			s.cur = r
		}
		n, err := s.cur.Read(p)
		if errors.Is(err, io.EOF) {
			_ = s.cur.Close()
			s.cur, err = nil, nil
			s.at++
			if n == 0 {
				continue
			}
		}
		return n, err
	}
	return 0, io.EOF
}

// Close ends the blob being read, if any.
func (s *streamedBody) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur = nil
	}
	s.at = 2*len(s.blobs) + 1
	return nil
}

// encodeBlob opens b and returns its content base64-encoded, as it is
// read. The content must be exactly b.Size() bytes.
func encodeBlob(ctx context.Context, b Blob) (io.ReadCloser, error) {
	src, err := b.Open(ctx)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer src.Close()
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		n, err := io.Copy(enc, io.LimitReader(src, b.Size()+1))
		if err == nil && n != b.Size() {
			err = fmt.Errorf("%w: %d bytes read, %d expected", errBlobSize, n, b.Size())
		}
		if err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err) // nil: EOF
	}()
	return pr, nil
}
