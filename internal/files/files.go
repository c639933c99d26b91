// Package files keeps the bridge's large payloads in a JetStream Object
// Store bucket (CONNECT_FILES): files a command attaches, files and big
// answers a result carries, the HTML files of a chat-history archive.
// Where a value would be too large for a NATS message, a reference stands
// in for it: {"$object": {"bucket": "…", "name": "…", "size": …,
// "digest": "…"}}.
//
// Invariants: a reference from outside (a producer's command) is checked
// before it is used: it names this package's bucket and no other, its
// name is bounded and printable, its object exists, is no larger than
// MaxObjectBytes and, when the reference carries a digest, still has that
// digest. An object is read as a stream and never held whole. Put refuses
// what is larger than MaxObjectBytes, leaving nothing behind.
package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the bucket's name unless configured otherwise.
const DefaultBucket = "CONNECT_FILES"

// Key is the one key of a reference's JSON object.
const Key = "$object"

// DefaultMaxObjectBytes is the largest object unless configured otherwise.
const DefaultMaxObjectBytes = 256 << 20

// maxName bounds an object's name in a reference.
const maxName = 1024

// Errors of references, for errors.Is.
var (
	// ErrNotFound: the reference's object does not exist (or was deleted).
	ErrNotFound = errors.New("no such object")
	// ErrTooLarge: the object is larger than MaxObjectBytes.
	ErrTooLarge = errors.New("object too large")
	// ErrOtherBucket: the reference names another bucket than the files'.
	ErrOtherBucket = errors.New("not the files bucket")
	// ErrChanged: the object's digest is not the reference's.
	ErrChanged = errors.New("object changed since the reference was made")
	// ErrBadRef: the value has the key $object but is not a reference.
	ErrBadRef = errors.New("malformed object reference")
)

// Ref is a reference to an object.
type Ref struct {
	Bucket string `json:"bucket" msgpack:"bucket"`
	Name   string `json:"name" msgpack:"name"`
	// Size and Digest (SHA-256=<base64url>, as the Object Store writes
	// it) are set on the references this package makes; a producer may
	// leave them out.
	Size   int64  `json:"size,omitempty" msgpack:"size,omitempty"`
	Digest string `json:"digest,omitempty" msgpack:"digest,omitempty"`
}

// Wrapped is a reference as it travels in a field or a result.
type Wrapped struct {
	Object Ref `json:"$object" msgpack:"$object"`
}

// Wrap returns r as it travels: {"$object": r}.
func (r Ref) Wrap() Wrapped { return Wrapped{Object: r} }

func (r Ref) String() string { return fmt.Sprintf("object %q of bucket %s", r.Name, r.Bucket) }

// ParseRef reads a reference from a decoded JSON or msgpack value. ok is
// false when v is not an object with the key $object; err is ErrBadRef
// (wrapped, saying what is wrong) when it is, but is not a reference.
func ParseRef(v any) (ref Ref, ok bool, err error) {
	m, isMap := v.(map[string]any)
	if !isMap {
		return Ref{}, false, nil
	}
	inner, has := m[Key]
	if !has {
		return Ref{}, false, nil
	}
	bad := func(what string) (Ref, bool, error) { return Ref{}, true, fmt.Errorf("%w: %s", ErrBadRef, what) }
	if len(m) != 1 {
		return bad(`{"$object": …} takes no other key`)
	}
	fields, isMap := inner.(map[string]any)
	if !isMap {
		return bad(`"$object" is not an object`)
	}
	for k, fv := range fields {
		switch k {
		case "bucket", "name", "digest":
			s, isString := fv.(string)
			if !isString {
				return bad(k + " is not a string")
			}
			switch k {
			case "bucket":
				ref.Bucket = s
			case "name":
				ref.Name = s
			default:
				ref.Digest = s
			}
		case "size":
			n, isNum := number(fv)
			if !isNum || n < 0 {
				return bad("size is not a count of bytes")
			}
			ref.Size = n
		default:
			return bad("unknown key " + printable(k))
		}
	}
	switch {
	case ref.Bucket == "":
		return bad("bucket is required")
	case !validBucket(ref.Bucket):
		return bad("bucket is not a bucket name")
	case ref.Name == "":
		return bad("name is required")
	case len(ref.Name) > maxName:
		return bad(fmt.Sprintf("name longer than %d bytes", maxName))
	case !printableName(ref.Name):
		return bad("name is not printable UTF-8")
	case len(ref.Digest) > 128:
		return bad("digest too long")
	}
	return ref, true, nil
}

// number reads a JSON or msgpack number as an int64.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n > 1<<62 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func validBucket(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func printableName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// printable quotes s for an error, bounded.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Config configures a Store. Zero fields take the defaults given.
type Config struct {
	// JetStream is the connection's JetStream. Required.
	JetStream jetstream.JetStream
	// Bucket is the Object Store bucket. Defaults to DefaultBucket.
	Bucket string
	// Replicas of the bucket's stream. Defaults to 1.
	Replicas int
	// MaxObjectBytes is the largest object Put stores and a reference may
	// name. Defaults to DefaultMaxObjectBytes.
	MaxObjectBytes int64
	// MaxBytes caps the bucket as a whole; 0: no cap.
	MaxBytes int64
}

// Store is the files bucket.
type Store struct {
	cfg Config
	os  jetstream.ObjectStore
}

// Open creates the bucket, or brings it up to date, and returns it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	os, err := cfg.JetStream.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      cfg.Bucket,
		Description: "connect-bridge: files and large payloads of commands, results and exports",
		Replicas:    cfg.Replicas,
		MaxBytes:    maxBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("files: bucket %s: %w", cfg.Bucket, err)
	}
	return &Store{cfg: cfg, os: os}, nil
}

// Existing returns the bucket without creating or changing it (the tools
// that only read or add objects).
func Existing(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	os, err := cfg.JetStream.ObjectStore(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("files: bucket %s: %w", cfg.Bucket, err)
	}
	return &Store{cfg: cfg, os: os}, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.JetStream == nil {
		return c, errors.New("files: Config.JetStream is required")
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if !validBucket(c.Bucket) {
		return c, fmt.Errorf("files: %q is not a bucket name", c.Bucket)
	}
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if c.MaxObjectBytes < 0 || c.MaxBytes < 0 || c.Replicas < 0 {
		return c, errors.New("files: negative setting")
	}
	return c, nil
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// MaxObjectBytes is the largest object stored or read.
func (s *Store) MaxObjectBytes() int64 { return s.cfg.MaxObjectBytes }

// Put stores what r gives under name, replacing an object of that name,
// and returns its reference. More than MaxObjectBytes is refused
// (ErrTooLarge) and nothing is kept.
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (Ref, error) {
	if name == "" || len(name) > maxName || !printableName(name) {
		return Ref{}, fmt.Errorf("files: object name %s is empty, too long or not printable", printable(name))
	}
	lr := &limitedReader{r: r, left: s.cfg.MaxObjectBytes}
	info, err := s.os.Put(ctx, jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: s.chunkSize()}}, lr)
	if lr.over {
		_ = s.os.Delete(context.WithoutCancel(ctx), name)
		return Ref{}, fmt.Errorf("files: %s: %w: more than %d bytes", name, ErrTooLarge, s.cfg.MaxObjectBytes)
	}
	if err != nil {
		return Ref{}, fmt.Errorf("files: put %s: %w", printable(name), err)
	}
	return Ref{Bucket: s.cfg.Bucket, Name: name, Size: int64(info.Size), Digest: info.Digest}, nil
}

// chunkSize is the Object Store's chunk (128 KiB), or less on a server
// whose messages are smaller.
func (s *Store) chunkSize() uint32 {
	const chunk = 128 << 10
	if nc := s.cfg.JetStream.Conn(); nc != nil {
		if room := nc.MaxPayload() - 4<<10; room > 0 && room < chunk {
			return uint32(room)
		}
	}
	return chunk
}

// limitedReader reads at most left bytes and notes an attempt to read more.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

var errOver = errors.New("over the size limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a reader at its limit from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.over = true
			return 0, errOver
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Stat checks a reference from outside and returns it complete (size and
// digest): the bucket must be this one (ErrOtherBucket), the object must
// exist (ErrNotFound), be no larger than MaxObjectBytes (ErrTooLarge) and
// have the reference's digest when it gives one (ErrChanged). Any other
// error is the bucket's: the check may succeed later.
func (s *Store) Stat(ctx context.Context, ref Ref) (Ref, error) {
	if ref.Bucket != s.cfg.Bucket {
		return ref, fmt.Errorf("%s: %w (%s)", ref, ErrOtherBucket, s.cfg.Bucket)
	}
	info, err := s.os.GetInfo(ctx, ref.Name)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return ref, fmt.Errorf("%s: %w", ref, ErrNotFound)
	case err != nil:
		return ref, fmt.Errorf("files: %s: %w", ref, err)
	case info.Deleted:
		return ref, fmt.Errorf("%s: %w", ref, ErrNotFound)
	case int64(info.Size) > s.cfg.MaxObjectBytes:
		return ref, fmt.Errorf("%s: %w: %d bytes, more than %d", ref, ErrTooLarge, info.Size, s.cfg.MaxObjectBytes)
	case ref.Digest != "" && ref.Digest != info.Digest:
		return ref, fmt.Errorf("%s: %w", ref, ErrChanged)
	}
	ref.Size, ref.Digest = int64(info.Size), info.Digest
	return ref, nil
}

// Open returns the content of the object ref names. The Object Store
// checks the digest as the last byte is read: a corrupt object ends in an
// error, not in wrong bytes.
func (s *Store) Open(ctx context.Context, ref Ref) (io.ReadCloser, error) {
	if ref.Bucket != s.cfg.Bucket {
		return nil, fmt.Errorf("%s: %w (%s)", ref, ErrOtherBucket, s.cfg.Bucket)
	}
	r, err := s.os.Get(ctx, ref.Name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("%s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("files: %s: %w", ref, err)
	}
	return r, nil
}

// Blob is a checked reference's content, to stream into a request: it
// implements soap.Blob.
type Blob struct {
	s   *Store
	ref Ref
}

// Blob returns the content of ref, which Stat returned.
func (s *Store) Blob(ref Ref) Blob { return Blob{s: s, ref: ref} }

// Size is the object's size, from Stat.
func (b Blob) Size() int64 { return b.ref.Size }

// Open returns the object's content.
func (b Blob) Open(ctx context.Context) (io.ReadCloser, error) { return b.s.Open(ctx, b.ref) }

// Ref is the blob's reference.
func (b Blob) Ref() Ref { return b.ref }
