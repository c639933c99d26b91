package connect

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// WithMirrorBucket names the key-value bucket of the mirror when the
// worker's is named otherwise. Defaults to CONNECT_MIRROR.
func WithMirrorBucket(bucket string) Option {
	return func(c *config) error {
		if bucket == "" || strings.ContainsAny(bucket, " \t\r\n.*>") {
			return fmt.Errorf("connect: mirror bucket %q: want a bucket name", bucket)
		}
		c.stores.mirrorBucket = bucket
		return nil
	}
}

// Mirror reads the bridge's mirror: the latest state the feeds saw of
// every object, kept in a key-value bucket (CONNECT_MIRROR), so that a
// service looks objects up without spending the API's quota. It is
// safe for concurrent use.
type Mirror struct{ c *Client }

// Mirror returns the client's mirror reader. The bucket is bound on
// first use: the worker creates it with its first feed.
func (c *Client) Mirror() *Mirror { return &Mirror{c: c} }

// Record is an object's state in the mirror.
type Record struct {
	// Object and ID name the object.
	Object, ID string
	// Data is its row by column name, typed as in results.
	Data map[string]any
	// Deleted is set for a deleted object (a tombstone, kept for the
	// worker's --feed-tombstone-ttl).
	Deleted bool
	// Version is the hash of Data and Deleted, the change event's.
	Version string
	// Seen is when the read that saw this state was made, Read which.
	Seen time.Time
	Read string
	// Revision is the record's revision in the bucket.
	Revision uint64
	// Removed is set, by Watch only, for a record taken out of the
	// bucket (a tombstone whose time ended, a purge): the mirror no
	// longer knows the object.
	Removed bool
}

// Decode reads Data into v, as Result.Decode does.
func (r Record) Decode(v any) error {
	return decodeData(r.Data, v, "mirror record of "+r.Object+" "+r.ID)
}

// Get returns the record of the object's id: ErrNotFound when the
// mirror has none.
func (m *Mirror) Get(ctx context.Context, object, id string) (Record, error) {
	if err := validObject(object); err != nil {
		return Record{}, err
	}
	if id == "" {
		return Record{}, fmt.Errorf("connect: mirror get %s: empty id", object)
	}
	kv, err := m.bucket(ctx)
	if err != nil {
		return Record{}, err
	}
	e, err := kv.Get(ctx, contract.MirrorKey(object, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, fmt.Errorf("connect: mirror get %s %s: %w", object, id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("connect: mirror get %s %s: %w", object, id, err)
	}
	return entryRecord(e)
}

// List yields every record of object (of every object when object is
// ""), in no particular order, read in one pass over the bucket. A
// record that cannot be read yields an error naming its key, and the
// listing goes on if the loop does; an error of the bucket ends it.
func (m *Mirror) List(ctx context.Context, object string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		w, err := m.watcher(ctx, object, jetstream.IgnoreDeletes())
		if err != nil {
			yield(Record{}, err)
			return
		}
		w(yield, true)
	}
}

// Watch starts watching the records of object (of every object when
// object is ""): every record written after Watch returns is yielded, in
// the order written, until ctx ends or the bucket fails (the error is
// yielded last). A record taken out of the bucket yields a Record with
// Removed set. Range over the iterator once; the watch ends with ctx.
func (m *Mirror) Watch(ctx context.Context, object string) (iter.Seq2[Record, error], error) {
	w, err := m.watcher(ctx, object, jetstream.UpdatesOnly())
	if err != nil {
		return nil, err
	}
	return func(yield func(Record, error) bool) { w(yield, false) }, nil
}

// watcher starts a key-value watch of object's keys and returns the
// loop that yields its entries: until the end of the initial values when
// initial is set, else until ctx ends. The loop stops the watch.
func (m *Mirror) watcher(ctx context.Context, object string, opt jetstream.WatchOpt) (func(yield func(Record, error) bool, initial bool), error) {
	keys := ">"
	if object != "" {
		if err := validObject(object); err != nil {
			return nil, err
		}
		keys = object + ".*"
	}
	kv, err := m.bucket(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, keys, opt)
	if err != nil {
		return nil, fmt.Errorf("connect: mirror watch %s: %w", keys, err)
	}
	return func(yield func(Record, error) bool, initial bool) {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, open := <-w.Updates():
				switch {
				case !open:
					if ctx.Err() == nil {
						yield(Record{}, fmt.Errorf("connect: mirror watch %s: the watch ended", keys))
					}
					return
				case e == nil:
					if initial {
						return // the end of the initial values
					}
					continue
				}
				var r Record
				var err error
				if e.Operation() == jetstream.KeyValuePut {
					r, err = entryRecord(e)
				} else {
					r, err = keyRecord(e.Key())
					r.Removed, r.Revision = true, e.Revision()
				}
				if !yield(r, err) {
					return
				}
			}
		}
	}, nil
}

// entryRecord reads a mirror entry, hostile: its key must be a mirror
// key and its value a record.
func entryRecord(e jetstream.KeyValueEntry) (Record, error) {
	r, err := keyRecord(e.Key())
	if err != nil {
		return Record{}, err
	}
	mr, err := contract.DecodeMirrorRecord(e.Value())
	if err != nil {
		return Record{}, fmt.Errorf("connect: mirror record of %s %s: %w", r.Object, r.ID, err)
	}
	r.Data, r.Deleted, r.Version, r.Seen, r.Read, r.Revision = mr.Data, mr.Deleted, mr.Version, mr.Seen, mr.Read, e.Revision()
	return r, nil
}

// keyRecord is the record of a mirror key, named but empty.
func keyRecord(key string) (Record, error) {
	object, enc, ok := strings.Cut(key, ".")
	id, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || object == "" || err != nil || len(id) == 0 {
		return Record{}, fmt.Errorf("connect: mirror key %.80q is not <Object>.<base64url id>", key)
	}
	return Record{Object: object, ID: string(id)}, nil
}

// validObject checks an object name: one subject token.
func validObject(object string) error {
	if object == "" || len(object) > 128 || strings.ContainsAny(object, " \t\r\n.*>") {
		return fmt.Errorf("connect: object %q: want an object name such as ClientUser", object)
	}
	return nil
}

// bucket binds the mirror's bucket once.
func (m *Mirror) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	b := &m.c.buckets
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mirror != nil {
		return b.mirror, nil
	}
	name := cmp.Or(m.c.cfg.stores.mirrorBucket, contract.MirrorBucket)
	kv, err := m.c.js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("connect: mirror bucket %s: %w", name, err)
	}
	b.mirror = kv
	return kv, nil
}
