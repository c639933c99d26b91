package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/lease"
)

// store is the exports' JetStream: the row stream, the markers and the
// leases.
type store struct {
	js      jetstream.JetStream
	n       Names
	markers jetstream.KeyValue
	leases  jetstream.KeyValue
}

// setup creates (or brings up to date) the stream and the buckets.
func (s *store) setup(ctx context.Context, c Config) error {
	if _, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.n.HistoryStream,
		Description: "Rows of the service's history and statistics reads, one message per row",
		Subjects:    []string{s.n.HistoryPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      c.HistoryMaxAge,
		Duplicates:  min(c.DuplicateWindow, c.HistoryMaxAge),
		Replicas:    c.Replicas,
	}); err != nil {
		return fmt.Errorf("export: stream %s: %w", s.n.HistoryStream, err)
	}
	var err error
	if s.markers, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      s.n.MarkerBucket,
		Description: "Each export's marker: the end of the last chunk whose rows are all stored",
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		History:     1,
	}); err != nil {
		return fmt.Errorf("export: bucket %s: %w", s.n.MarkerBucket, err)
	}
	if s.leases, err = lease.Bucket(ctx, s.js, s.n.LeaseBucket,
		"Which replica reads each export; a lease not renewed expires", c.Replicas, c.LeaseTTL); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// State is an export's stored state, JSON in the markers bucket under
// the export's name.
type State struct {
	// Marker is the end of the last chunk whose rows are all stored:
	// where the next chunk starts. Zero before the export first ran.
	Marker time.Time `json:"marker,omitzero"`
	// LastRead is when the last chunk stored was read.
	LastRead time.Time `json:"last_read,omitzero"`
	// Chunks counts the chunks stored, Calls the calls made for them
	// (halvings and refusals included), Rows the rows read, Published
	// the rows the stream stored as new (the others were duplicates).
	Chunks    int64 `json:"chunks"`
	Calls     int64 `json:"calls"`
	Rows      int64 `json:"rows"`
	Published int64 `json:"published"`
	// Failed says why the chunk at the marker could not be read, even at
	// the minimum chunk; empty once a chunk is stored again. FailedAt is
	// when.
	Failed   string    `json:"failed,omitempty"`
	FailedAt time.Time `json:"failed_at,omitzero"`
}

// state reads an export's state; an export never run has the zero State
// and revision 0.
func (s *store) state(ctx context.Context, name string) (State, uint64, error) {
	e, err := s.markers.Get(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return State{}, 0, nil
	case err != nil:
		return State{}, 0, fmt.Errorf("export: marker of %s: %w", name, err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		// The value is ours; a foreign one is not quoted.
		return State{}, 0, fmt.Errorf("export: marker of %s holds %d bytes that are not a state: %w", name, len(e.Value()), err)
	}
	return st, e.Revision(), nil
}

// saveState writes an export's state over the revision read (0: none),
// and returns the new revision.
func (s *store) saveState(ctx context.Context, name string, st State, rev uint64) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		rev, err = s.markers.Create(ctx, name, b)
	} else {
		rev, err = s.markers.Update(ctx, name, b, rev)
	}
	if err != nil {
		return 0, fmt.Errorf("export: marker of %s: %w", name, err)
	}
	return rev, nil
}
