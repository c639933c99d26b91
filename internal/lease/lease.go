// Package lease lets one of several replicas at a time hold a named piece
// of work (a change feed, an export), through a JetStream key-value
// bucket.
//
// Invariants: a key of the bucket is a lease, its value the holder's
// name; it is taken with a create (fails when the key exists) and renewed
// with an update on the revision last written (fails when another holder
// wrote since), so two holders never both believe they hold it. The
// bucket's age limit (TTL) frees the lease of a holder that died: a
// holder renews every third of it, and gives the work up (its context
// ends) as soon as a renewal fails, before the lease can have passed to
// another, unless its renewal was delayed by more than two thirds of the
// TTL. A holder that stops releases the lease at once (a delete on its
// revision), so that another replica takes over without waiting for the
// TTL.
package lease

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/retry"
)

// ErrHeld means another holder has the lease.
var ErrHeld = errors.New("lease: another holder has it")

// requestTimeout bounds one request to the bucket.
const requestTimeout = 5 * time.Second

// Bucket creates (or brings up to date) a bucket of leases whose holders
// keep them for ttl without renewing.
func Bucket(ctx context.Context, js jetstream.JetStream, name, description string, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: description,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		History:     1,
		TTL:         ttl,
	})
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: %w", name, err)
	}
	return kv, nil
}

// Config configures a Holder. Zero fields take the defaults given.
type Config struct {
	// KV is the bucket of leases (see Bucket). Required.
	KV jetstream.KeyValue
	// TTL is the bucket's TTL: how long a holder that stopped renewing
	// keeps its lease. Renewals come every third of it. Required.
	TTL time.Duration
	// Owner is this holder's name, the value of the leases it holds.
	// Defaults to a new NUID.
	Owner string
	// Clock makes the waits. Defaults to the real clock.
	Clock clock.Clock
	// Logger receives a warning when a lease is lost or cannot be taken
	// for a reason other than another holder. Defaults to none.
	Logger zerolog.Logger
}

// Holder takes and keeps leases of one bucket for one owner.
type Holder struct {
	cfg Config
}

// New checks cfg and returns a Holder; nothing is contacted.
func New(cfg Config) (*Holder, error) {
	switch {
	case cfg.KV == nil:
		return nil, errors.New("lease: Config.KV is required")
	case cfg.TTL <= 0:
		return nil, errors.New("lease: Config.TTL must be positive")
	}
	if cfg.Owner == "" {
		cfg.Owner = nuid.Next()
	}
	cfg.Clock = clock.Or(cfg.Clock)
	return &Holder{cfg: cfg}, nil
}

// Owner returns the holder's name.
func (h *Holder) Owner() string { return h.cfg.Owner }

// Run waits for the lease of key and runs work while it holds it, again
// and again, until ctx ends; it returns then. work's context ends when
// ctx does or the lease is lost, and work should return then; if it
// returns earlier, the lease is released and waited for again.
func (h *Holder) Run(ctx context.Context, key string, work func(ctx context.Context)) {
	log := h.cfg.Logger.With().Str("lease", key).Logger()
	for ctx.Err() == nil {
		rev, err := h.acquire(ctx, key, 0)
		if err != nil {
			if !errors.Is(err, ErrHeld) && ctx.Err() == nil {
				log.Warn().Err(err).Msg("taking the lease failed")
			}
			if retry.Sleep(ctx, h.cfg.Clock, h.cfg.TTL/3) != nil {
				return
			}
			continue
		}
		h.hold(ctx, key, rev, log, work)
	}
}

// hold runs work while the lease taken at rev is renewed every third of
// the TTL; when a renewal fails work's context ends. The lease is
// released once work has returned.
func (h *Holder) hold(ctx context.Context, key string, rev uint64, log zerolog.Logger, work func(ctx context.Context)) {
	hctx, lost := context.WithCancel(ctx)
	defer lost()
	var leaseRev atomic.Uint64
	leaseRev.Store(rev)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := h.cfg.Clock.NewTicker(h.cfg.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C():
			}
			next, err := h.acquire(hctx, key, leaseRev.Load())
			if err != nil {
				if hctx.Err() == nil {
					log.Warn().Err(err).Msg("the lease is lost; another replica takes over")
				}
				lost()
				return
			}
			leaseRev.Store(next)
		}
	}()
	defer func() {
		lost()
		<-renewed
		rctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		_ = h.cfg.KV.Delete(rctx, key, jetstream.LastRevision(leaseRev.Load()))
	}()
	work(hctx)
}

// acquire takes key's lease (rev 0) or renews it at rev, and returns the
// lease's new revision.
func (h *Holder) acquire(ctx context.Context, key string, rev uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var err error
	if rev == 0 {
		rev, err = h.cfg.KV.Create(ctx, key, []byte(h.cfg.Owner))
	} else {
		rev, err = h.cfg.KV.Update(ctx, key, []byte(h.cfg.Owner), rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, ErrHeld
	case err != nil:
		return 0, fmt.Errorf("lease: %s: %w", key, err)
	}
	return rev, nil
}

// Held reports whether a holder has the lease of key in kv now.
func Held(ctx context.Context, kv jetstream.KeyValue, key string) (bool, error) {
	_, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("lease: %s: %w", key, err)
}
