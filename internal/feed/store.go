package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/lastmsg"
	"github.com/onec-connect/connect-bridge/internal/lease"
)

// store is the feeds' JetStream: the event stream, the mirror, the
// markers and the leases.
type store struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	n       Names
	markers jetstream.KeyValue
	leases  jetstream.KeyValue
	mirror  jetstream.KeyValue
	// tombstone is how long a deleted object's record stays.
	tombstone time.Duration
}

// setup creates (or brings up to date) the stream and the buckets.
func (s *store) setup(ctx context.Context, c Config) error {
	if _, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.n.ChangeStream,
		Description: "Changes of the service's objects, one event per state",
		Subjects:    []string{s.n.ChangePrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      c.ChangeMaxAge,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
	}); err != nil {
		return fmt.Errorf("feed: stream %s: %w", s.n.ChangeStream, err)
	}
	var err error
	if s.mirror, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      s.n.MirrorBucket,
		Description: "The latest known state of every object the feeds saw",
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		History:     1,
		// Lets a tombstone carry a TTL of its own (Nats-TTL).
		LimitMarkerTTL: time.Minute,
	}); err != nil {
		return fmt.Errorf("feed: bucket %s: %w", s.n.MirrorBucket, err)
	}
	if s.markers, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      s.n.MarkerBucket,
		Description: "Each feed's marker: where its next poll reads from",
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		History:     1,
	}); err != nil {
		return fmt.Errorf("feed: bucket %s: %w", s.n.MarkerBucket, err)
	}
	if s.leases, err = lease.Bucket(ctx, s.js, s.n.LeaseBucket, "Which replica polls each feed; a lease not renewed expires", c.Replicas, c.LeaseTTL); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	return nil
}

// State is a feed's stored state, JSON in the markers bucket under the
// feed's name.
type State struct {
	// Marker is where the next poll reads from (less the overlap); zero
	// before the first complete poll.
	Marker time.Time `json:"marker,omitzero"`
	// LastPoll is when the last complete poll started; Polls and Events
	// count the complete polls and the events they published.
	LastPoll time.Time `json:"last_poll,omitzero"`
	Polls    int64     `json:"polls"`
	Events   int64     `json:"events"`
	// Rows counts the rows read.
	Rows int64 `json:"rows"`
	// Op and Every are the feed's read and interval at its last poll, so
	// that a tool that was not given the feed's settings can show them.
	Op    string   `json:"feed_read,omitempty"`
	Every Duration `json:"feed_interval,omitzero"`
}

// state reads a feed's state; a feed never polled has the zero State.
func (s *store) state(ctx context.Context, feed string) (State, uint64, error) {
	e, err := s.markers.Get(ctx, feed)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return State{}, 0, nil
	case err != nil:
		return State{}, 0, fmt.Errorf("feed: marker of %s: %w", feed, err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, 0, fmt.Errorf("feed: marker of %s holds %q: %w", feed, e.Value(), err)
	}
	return st, e.Revision(), nil
}

// saveState writes a feed's state over the revision read (0: none).
func (s *store) saveState(ctx context.Context, feed string, st State, rev uint64) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		rev, err = s.markers.Create(ctx, feed, b)
	} else {
		rev, err = s.markers.Update(ctx, feed, b, rev)
	}
	if err != nil {
		return 0, fmt.Errorf("feed: marker of %s: %w", feed, err)
	}
	return rev, nil
}

// mirrored is an object's state in the mirror, and the record's revision.
type mirrored struct {
	version string
	rev     uint64
}

// lookup reads the mirror's versions of keys, in one request per
// lastmsg.MaxSubjects keys; a key without a record has none.
func (s *store) lookup(ctx context.Context, keys []string) (map[string]mirrored, error) {
	subjects := make([]string, len(keys))
	for i, k := range keys {
		subjects[i] = s.mirrorSubject(k)
	}
	got, err := lastmsg.Get(ctx, s.nc, "KV_"+s.n.MirrorBucket, subjects)
	if err != nil {
		return nil, fmt.Errorf("feed: mirror: %w", err)
	}
	out := make(map[string]mirrored, len(got))
	for i, subject := range subjects {
		m, ok := got[subject]
		if !ok || m.Deleted {
			continue
		}
		var r struct {
			Version string `json:"version"`
		}
		// A record the feeds did not write is as good as none: the
		// object's next state replaces it.
		_ = json.Unmarshal(m.Data, &r)
		out[keys[i]] = mirrored{version: r.Version, rev: m.Seq}
	}
	return out, nil
}

func (s *store) mirrorSubject(key string) string { return "$KV." + s.n.MirrorBucket + "." + key }

// mirrorWrite is the write of one object's new state, over the record
// revision seen (0: none); a tombstone carries the tombstone TTL.
func (s *store) mirrorWrite(key string, r Record, rev uint64) (*nats.Msg, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("feed: mirror record: %w", err)
	}
	m := nats.NewMsg(s.mirrorSubject(key))
	m.Data = b
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	if r.Deleted && s.tombstone > 0 {
		m.Header.Set(jetstream.MsgTTLHeader, s.tombstone.String())
	}
	return m, nil
}

// Mirror reads the mirror as any client can: the object's record, by its
// object name and id.
func Mirror(ctx context.Context, kv jetstream.KeyValue, object, id string) (Record, error) {
	e, err := kv.Get(ctx, MirrorKey(object, id))
	if err != nil {
		return Record{}, err
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Record{}, fmt.Errorf("feed: mirror record of %s %s: %w", object, id, err)
	}
	return r, nil
}
