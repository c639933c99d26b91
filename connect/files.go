package connect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/files"
)

// stores names the buckets the mirror and files are read from; empty
// names are the defaults.
type stores struct {
	mirrorBucket string
	filesBucket  string
	maxFileBytes int64
}

// buckets are the files and mirror buckets of a client, bound on first
// use.
type buckets struct {
	mu     sync.Mutex // protects files, mirror
	files  *files.Store
	mirror jetstream.KeyValue
}

// WithFilesBucket names the Object Store bucket of files (the worker's
// --files-bucket) and the largest object PutFile stores and OpenFile
// reads (its --files-max-object; 0 keeps the default). Defaults to
// CONNECT_FILES and 256 MiB.
func WithFilesBucket(bucket string, maxObjectBytes int64) Option {
	return func(c *config) error {
		if bucket == "" || maxObjectBytes < 0 {
			return fmt.Errorf("connect: files bucket %q of %d bytes: want a name and a size", bucket, maxObjectBytes)
		}
		c.stores.filesBucket, c.stores.maxFileBytes = bucket, maxObjectBytes
		return nil
	}
}

// FileRef is a reference to an object of the files bucket: what a
// command's binary field may carry instead of the bytes (the worker
// streams the object into the call), and what a result's data carries
// for a file or data too large for a message. It marshals, in JSON and
// msgpack, to {"$object": {"bucket", "name", "size", "digest"}}.
type FileRef struct {
	// Bucket and Name locate the object.
	Bucket, Name string
	// Size is its size in bytes and Digest its SHA-256 as the Object
	// Store writes it ("SHA-256=<base64url>"); a reference may leave them
	// out. The worker refuses an object whose digest is not the one given.
	Size   int64
	Digest string
}

// String returns `object "<name>" of bucket <bucket>`.
func (r FileRef) String() string { return r.internal().String() }

func (r FileRef) internal() files.Ref {
	return files.Ref{Bucket: r.Bucket, Name: r.Name, Size: r.Size, Digest: r.Digest}
}

func fileRef(r files.Ref) FileRef {
	return FileRef{Bucket: r.Bucket, Name: r.Name, Size: r.Size, Digest: r.Digest}
}

// MarshalJSON writes {"$object": {…}}.
func (r FileRef) MarshalJSON() ([]byte, error) { return json.Marshal(r.internal().Wrap()) }

// UnmarshalJSON reads {"$object": {…}}, checked as AsFileRef checks it.
func (r *FileRef) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("connect: file reference: %w", err)
	}
	ref, ok, err := files.ParseRef(v)
	switch {
	case err != nil:
		return fmt.Errorf("connect: %w", err)
	case !ok:
		return errors.New(`connect: file reference: want {"$object": {…}}`)
	}
	*r = fileRef(ref)
	return nil
}

// EncodeMsgpack writes {"$object": {…}}, so that a reference is a field
// value in a msgpack command too.
func (r FileRef) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.Encode(r.internal().Wrap()) }

// AsFileRef recognizes a reference in a decoded value (a result's data
// or one of its fields, a history row): {"$object": {…}}, its bucket a
// bucket name and its name printable. ok is false for anything else,
// including a malformed reference.
func AsFileRef(v any) (FileRef, bool) {
	if m, isMap := v.(map[string]any); !isMap || len(m) != 1 {
		return FileRef{}, false
	}
	ref, ok, err := files.ParseRef(v)
	if !ok || err != nil {
		return FileRef{}, false
	}
	return fileRef(ref), true
}

// AttachFile returns op with its field set to ref, for a typed
// operation whose binary field takes a file (ops.ServiceRequestAttachFile's
// Data): the command carries the reference and the worker streams the
// object into the call. The field's own value in op is replaced.
func AttachFile(op Operation, field string, ref FileRef) Operation {
	return attached{op: op, field: field, ref: ref}
}

type attached struct {
	op    Operation
	field string
	ref   FileRef
}

func (a attached) OperationName() string { return a.op.OperationName() }

func (a attached) CommandFields() (map[string]any, error) {
	fs, err := a.op.CommandFields()
	if err != nil {
		return nil, err
	}
	if fs == nil {
		fs = map[string]any{}
	}
	fs[a.field] = a.ref
	return fs, nil
}

// PutFile stores what r gives in the files bucket, as
// uploads/<unique>/<name>, and returns its reference. More than the
// bucket's object limit is refused (ErrFileRefused), leaving nothing
// behind. The bucket must exist: the worker creates it.
func (c *Client) PutFile(ctx context.Context, name string, r io.Reader) (FileRef, error) {
	if name == "" || strings.ContainsAny(name, "/\\") {
		return FileRef{}, fmt.Errorf("connect: put file %q: want a file name without slashes", name)
	}
	st, err := c.filesStore(ctx)
	if err != nil {
		return FileRef{}, err
	}
	ref, err := st.Put(ctx, "uploads/"+nuid.Next()+"/"+name, r)
	if err != nil {
		return FileRef{}, fileError("put file", err)
	}
	return fileRef(ref), nil
}

// OpenFile returns the content of the object ref names, once checked:
// the bucket is the files bucket, the object exists (ErrNotFound), is
// within the size limit and has the reference's digest when it gives one
// (ErrFileRefused). The digest of the whole object is checked as its
// last byte is read: a corrupt object ends in an error, never in wrong
// bytes. Close the reader.
func (c *Client) OpenFile(ctx context.Context, ref FileRef) (io.ReadCloser, error) {
	st, err := c.filesStore(ctx)
	if err != nil {
		return nil, err
	}
	checked, err := st.Stat(ctx, ref.internal())
	if err != nil {
		return nil, fileError("open file", err)
	}
	rc, err := st.Open(ctx, checked)
	if err != nil {
		return nil, fileError("open file", err)
	}
	return rc, nil
}

// fileError maps the files package's refusals to the SDK's sentinels.
func fileError(what string, err error) error {
	switch {
	case errors.Is(err, files.ErrNotFound):
		return fmt.Errorf("connect: %s: %w: %w", what, ErrNotFound, err)
	case errors.Is(err, files.ErrOtherBucket), errors.Is(err, files.ErrTooLarge), errors.Is(err, files.ErrChanged), errors.Is(err, files.ErrBadRef):
		return fmt.Errorf("connect: %s: %w: %w", what, ErrFileRefused, err)
	}
	return fmt.Errorf("connect: %s: %w", what, err)
}

// filesStore binds the files bucket once.
func (c *Client) filesStore(ctx context.Context) (*files.Store, error) {
	s, b := c.cfg.stores, &c.buckets
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.files != nil {
		return b.files, nil
	}
	st, err := files.Existing(ctx, files.Config{
		JetStream: c.js, Bucket: cmp.Or(s.filesBucket, files.DefaultBucket), MaxObjectBytes: s.maxFileBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	b.files = st
	return st, nil
}
