package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/onec-connect/connect-bridge/internal/files"
)

// PutFile stores the file at path in the files bucket under name (by
// default uploads/<unique>/<the file's base name>) and returns the
// reference a command's field may carry. The bucket must exist: the
// worker creates it.
func PutFile(ctx context.Context, nc *nats.Conn, bucket, path, name string) (files.Ref, error) {
	store, err := existingFiles(ctx, nc, bucket)
	if err != nil {
		return files.Ref{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return files.Ref{}, fmt.Errorf("enqueue: put: %w", err)
	}
	defer f.Close()
	if name == "" {
		name = "uploads/" + nuid.Next() + "/" + filepath.Base(path)
	}
	return store.Put(ctx, name, f)
}

// GetFile writes the object a reference names to w. ref is a reference
// as results carry it ({"$object": {…}}), or an object's name in the
// bucket.
func GetFile(ctx context.Context, nc *nats.Conn, bucket, ref string, w io.Writer) (files.Ref, error) {
	r, err := ParseFileRef(ref, bucket)
	if err != nil {
		return r, err
	}
	store, err := existingFiles(ctx, nc, r.Bucket)
	if err != nil {
		return r, err
	}
	if r, err = store.Stat(ctx, r); err != nil {
		return r, fmt.Errorf("enqueue: get: %w", err)
	}
	rc, err := store.Open(ctx, r)
	if err != nil {
		return r, fmt.Errorf("enqueue: get: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return r, fmt.Errorf("enqueue: get %s: %w", r, err)
	}
	return r, nil
}

// ParseFileRef reads a reference given on the command line: the JSON of
// one, or a bare object name in bucket.
func ParseFileRef(s, bucket string) (files.Ref, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		if s == "" {
			return files.Ref{}, errors.New("enqueue: get: give a reference or an object name")
		}
		return files.Ref{Bucket: bucket, Name: s}, nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return files.Ref{}, fmt.Errorf("enqueue: get: the reference is not JSON: %w", err)
	}
	r, ok, err := files.ParseRef(v)
	switch {
	case err != nil:
		return r, fmt.Errorf("enqueue: get: %w", err)
	case !ok:
		return r, errors.New(`enqueue: get: want {"$object": {"bucket": "…", "name": "…"}}`)
	}
	return r, nil
}

func existingFiles(ctx context.Context, nc *nats.Conn, bucket string) (*files.Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	store, err := files.Existing(ctx, files.Config{JetStream: js, Bucket: bucket})
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("enqueue: no files bucket %s on this NATS (the worker creates it at start)", bucket)
	}
	return store, err
}
