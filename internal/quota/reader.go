package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoLedger is returned by Reader.Status when there is no shared ledger
// to read: no JetStream was given, or its bucket does not exist (the
// workers keep their ledgers in memory, or none has started yet).
var ErrNoLedger = errors.New("quota: no shared ledger")

// ReaderConfig configures a Reader: the same windows and limits as the
// workers', and where their ledger is.
type ReaderConfig struct {
	Config
	// JetStream is the connection's JetStream context. Nil means no
	// ledger: Status fails with ErrNoLedger, Limit still answers.
	JetStream jetstream.JetStream
	// Bucket names the key-value bucket. Defaults to CONNECT_QUOTA.
	Bucket string
}

// Reader reads the shared ledger for a tool that only looks at it (the
// enqueue command's estimate of when its commands are done). It never
// creates the bucket and never writes a key, so that looking cannot
// change what the workers may spend; its windows and limits are those a
// Shared limiter of the same Config uses.
type Reader struct {
	w      Windows
	l      Limits
	js     jetstream.JetStream
	bucket string

	mu sync.Mutex         // protects kv
	kv jetstream.KeyValue // the bucket, nil until opened
}

// NewReader checks cfg and returns a reader. It makes no request: the
// bucket is opened by the first Status.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	w, err := cfg.Windows.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	return &Reader{w: w, l: l, js: cfg.JetStream, bucket: cfg.Bucket}, nil
}

// Windows returns the calendar in effect, defaults applied.
func (r *Reader) Windows() Windows { return r.w }

// Limit returns the calls op may make in the window holding t, as a
// Shared limiter of the same Config grants them.
func (r *Reader) Limit(op string, t time.Time) (int, error) {
	return r.l.For(op, r.w.IsNight(t), r.w.Length)
}

// Status reads the ledger of ops in the window holding at: the window
// of now, or of an earlier instant (the keys of the two windows before
// the current one are kept). The error wraps ErrNoLedger when there is
// no ledger to read.
func (r *Reader) Status(ctx context.Context, ops []string, at time.Time) ([]Status, error) {
	kv, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	start := r.w.Start(at)
	out := make([]Status, 0, len(ops))
	for _, op := range ops {
		limit, err := r.Limit(op, at)
		if err != nil {
			return nil, err
		}
		k := key(op, start)
		var cur entry
		e, err := kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			// No call yet in that window.
		case err != nil:
			if bucketGone(err) {
				r.forget(kv)
			}
			return nil, fmt.Errorf("quota: read %s: %w", k, err)
		default:
			if cur, err = decodeEntry(k, e.Value()); err != nil {
				return nil, err
			}
		}
		out = append(out, Status{Op: op, Limit: limit, Used: cur.Used, Exhausted: cur.Exhausted, Reset: start.Add(r.w.Length)})
	}
	return out, nil
}

// open returns the bucket, opening it (never creating it) when it is not
// open yet.
func (r *Reader) open(ctx context.Context) (jetstream.KeyValue, error) {
	if r.js == nil {
		return nil, fmt.Errorf("%w: no JetStream", ErrNoLedger)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv != nil {
		return r.kv, nil
	}
	kv, err := r.js.KeyValue(ctx, r.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: bucket %s does not exist", ErrNoLedger, r.bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("quota: bucket %s: %w", r.bucket, err)
	}
	r.kv = kv
	return kv, nil
}

// forget drops kv when it is still the open bucket, so that the next
// Status opens it again: it was deleted, or is being re-created.
func (r *Reader) forget(kv jetstream.KeyValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv == kv {
		r.kv = nil
	}
}
