package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the key-value bucket of the shared ledger.
const DefaultBucket = "CONNECT_QUOTA"

// ErrBusy is returned when the ledger kept changing under a Take, which
// gave up after casRetries attempts; ask again shortly.
var ErrBusy = errors.New("quota: ledger contended; try again")

// casRetries bounds the compare-and-set attempts of one Take.
const casRetries = 32

// SharedConfig configures a Shared limiter.
type SharedConfig struct {
	Config
	// JetStream is the connection's JetStream context. Required.
	JetStream jetstream.JetStream
	// Bucket names the key-value bucket. Defaults to CONNECT_QUOTA.
	Bucket string
	// Replicas of the bucket when it is created. Defaults to 1.
	Replicas int
}

// Shared is a limiter whose ledger all replicas share through a JetStream
// key-value bucket: one key per operation and window, holding the calls
// granted and whether the API answered OUT_OF_LIMIT; every change is a
// compare-and-set on the key's revision.
type Shared struct {
	w      Windows
	l      Limits
	js     jetstream.JetStream
	kvCfg  jetstream.KeyValueConfig
	bucket string

	mu sync.Mutex // protects kv, full, recreated
	kv jetstream.KeyValue
	// full caches, per operation, the start of a window known to be spent:
	// a window never becomes unspent, so asking again is not needed.
	full map[string]time.Time
	// recreated is when the bucket was last created again (see recreate).
	recreated time.Time
}

// entry is the value of one ledger key.
type entry struct {
	Used      int  `json:"used"`
	Exhausted bool `json:"exhausted,omitempty"`
}

// NewShared creates (or opens) the bucket and returns the limiter.
func NewShared(ctx context.Context, cfg SharedConfig) (*Shared, error) {
	w, err := cfg.Windows.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.JetStream == nil {
		return nil, errors.New("quota: SharedConfig.JetStream is required")
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	// Keys of past windows expire by themselves; two windows of history
	// are kept for `worker quota` and for replicas whose clocks lag.
	ttl := max(2*w.Length+w.Guard, time.Minute)
	kvCfg := jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Calls of the 1C-Connect API per operation and window, shared by all workers",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		History:     1,
	}
	kv, err := cfg.JetStream.CreateOrUpdateKeyValue(ctx, kvCfg)
	if err != nil {
		return nil, fmt.Errorf("quota: bucket %s: %w", cfg.Bucket, err)
	}
	return &Shared{w: w, l: l, js: cfg.JetStream, kvCfg: kvCfg, kv: kv, bucket: cfg.Bucket, full: map[string]time.Time{}}, nil
}

// recreateEvery bounds how often a missing bucket is created again.
const recreateEvery = time.Second

// bucketGone reports an error that a deleted bucket gives (no stream
// answers its subjects); a stream without a leader gives it too, for a
// moment.
func bucketGone(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// recreate creates the bucket again after err, when err says it is gone,
// at most once per recreateEvery; it reports whether it did, so that the
// caller tries once more. Creating a bucket that exists changes nothing,
// so a leader election mistaken for a deletion does no harm. Ledger keys
// lost with a deleted bucket are lost: the window's calls count from 0
// again, and the API's OUT_OF_LIMIT is then what stops them.
func (q *Shared) recreate(ctx context.Context, err error, now time.Time) bool {
	if !bucketGone(err) {
		return false
	}
	q.mu.Lock()
	if !q.recreated.IsZero() && now.Sub(q.recreated) < recreateEvery && now.After(q.recreated) {
		q.mu.Unlock()
		return false
	}
	q.recreated = now
	q.mu.Unlock()
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, q.kvCfg)
	if err != nil {
		return false
	}
	q.mu.Lock()
	q.kv = kv
	q.mu.Unlock()
	return true
}

// store returns the bucket in use.
func (q *Shared) store() jetstream.KeyValue {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.kv
}

// Windows returns the calendar in effect, defaults applied.
func (q *Shared) Windows() Windows { return q.w }

// key is the ledger key of op in the window starting at start.
func key(op string, start time.Time) string {
	return "op." + op + "." + strconv.FormatInt(start.Unix(), 10)
}

// accountKey is the key of the per-account cap.
func accountKey(start time.Time) string { return "account." + strconv.FormatInt(start.Unix(), 10) }

// Take asks for one call of op at now. It never sleeps: contention on the
// key is retried at once, a bounded number of times. An error means the
// ledger could not be read or written; no call may be made (fail closed).
func (q *Shared) Take(ctx context.Context, op string, now time.Time) (Grant, error) {
	start := q.w.Start(now)
	end := start.Add(q.w.Length)
	limit, err := q.l.For(op, q.w.IsNight(now), q.w.Length)
	if err != nil {
		return Grant{}, err
	}
	g := Grant{Limit: limit, Start: start, Reset: end}
	if open, at := q.w.Open(now); !open {
		g.RetryAt = at
		return g, nil
	}
	next := end.Add(q.w.Guard)
	if q.spent(op, start) {
		g.Used, g.RetryAt = limit, next
		return g, nil
	}
	if q.l.AccountCap > 0 {
		ok, _, err := q.increment(ctx, accountKey(start), q.l.AccountCap, now)
		if errors.Is(err, ErrBusy) {
			g.RetryAt = now.Add(time.Duration(1+rand.IntN(20)) * time.Millisecond)
			return g, nil
		}
		if err != nil {
			return g, err
		}
		if !ok {
			g.RetryAt = next
			return g, nil
		}
	}
	ok, used, err := q.increment(ctx, key(op, start), limit, now)
	if errors.Is(err, ErrBusy) {
		// Contended past the retries: not a failure of the ledger; ask
		// again in a moment, at a random offset so replicas spread out.
		g.RetryAt = now.Add(time.Duration(1+rand.IntN(20)) * time.Millisecond)
		return g, nil
	}
	if err != nil {
		return g, err
	}
	g.Used = used
	if !ok {
		q.markSpent(op, start)
		g.RetryAt = next
		return g, nil
	}
	g.OK = true
	return g, nil
}

// increment adds one call to the key if it is below limit and not
// exhausted. It reports whether it did, and the calls counted.
func (q *Shared) increment(ctx context.Context, k string, limit int, now time.Time) (bool, int, error) {
	for range casRetries {
		cur, rev, err := q.get(ctx, k, now)
		if err != nil {
			return false, 0, err
		}
		if cur.Exhausted || cur.Used >= limit {
			return false, cur.Used, nil
		}
		cur.Used++
		ok, err := q.put(ctx, k, cur, rev, now)
		if err != nil {
			return false, 0, err
		}
		if ok {
			return true, cur.Used, nil
		}
	}
	return false, 0, ErrBusy
}

// Exhausted records that the API answered OUT_OF_LIMIT for op at now: no
// replica calls op again until the next window.
func (q *Shared) Exhausted(ctx context.Context, op string, now time.Time) error {
	start := q.w.Start(now)
	k := key(op, start)
	for range casRetries {
		cur, rev, err := q.get(ctx, k, now)
		if err != nil {
			return err
		}
		if cur.Exhausted {
			q.markSpent(op, start)
			return nil
		}
		cur.Exhausted = true
		ok, err := q.put(ctx, k, cur, rev, now)
		if err != nil {
			return err
		}
		if ok {
			q.markSpent(op, start)
			return nil
		}
	}
	return ErrBusy
}

// get reads a key; a missing key is a zero entry at revision 0. A bucket
// that is gone is created again (see recreate).
func (q *Shared) get(ctx context.Context, k string, now time.Time) (entry, uint64, error) {
	e, err := q.store().Get(ctx, k)
	if err != nil && q.recreate(ctx, err, now) {
		e, err = q.store().Get(ctx, k)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return entry{}, 0, nil
	case err != nil:
		return entry{}, 0, fmt.Errorf("quota: read %s: %w", k, err)
	}
	v, err := decodeEntry(k, e.Value())
	if err != nil {
		return entry{}, 0, err
	}
	return v, e.Revision(), nil
}

// decodeEntry reads the value of ledger key k.
func decodeEntry(k string, value []byte) (entry, error) {
	var v entry
	if err := json.Unmarshal(value, &v); err != nil {
		return entry{}, fmt.Errorf("quota: %s holds %q: %w", k, value, err)
	}
	return v, nil
}

// put writes a key if it is still at revision rev (0: if it does not
// exist). It reports false when another writer came first.
func (q *Shared) put(ctx context.Context, k string, v entry, rev uint64, now time.Time) (bool, error) {
	b, _ := json.Marshal(v)
	write := func() error {
		var err error
		if rev == 0 {
			_, err = q.store().Create(ctx, k, b)
		} else {
			_, err = q.store().Update(ctx, k, b, rev)
		}
		return err
	}
	err := write()
	if err != nil && q.recreate(ctx, err, now) {
		err = write()
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		// Lost the race to another replica: read again.
		return false, nil
	}
	return false, fmt.Errorf("quota: write %s: %w", k, err)
}

func (q *Shared) spent(op string, start time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.full[op].Equal(start)
}

func (q *Shared) markSpent(op string, start time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.full[op] = start
}

// Status is one operation's state in the current window.
type Status struct {
	Op        string
	Limit     int
	Used      int
	Exhausted bool
	Reset     time.Time
}

// Remaining returns the calls left.
func (s Status) Remaining() int {
	if s.Exhausted {
		return 0
	}
	return max(0, s.Limit-s.Used)
}

// Status reads the ledger of ops in the window holding now.
func (q *Shared) Status(ctx context.Context, ops []string, now time.Time) ([]Status, error) {
	start := q.w.Start(now)
	out := make([]Status, 0, len(ops))
	for _, op := range ops {
		limit, err := q.l.For(op, q.w.IsNight(now), q.w.Length)
		if err != nil {
			return nil, err
		}
		cur, _, err := q.get(ctx, key(op, start), now)
		if err != nil {
			return nil, err
		}
		out = append(out, Status{Op: op, Limit: limit, Used: cur.Used, Exhausted: cur.Exhausted, Reset: start.Add(q.w.Length)})
	}
	return out, nil
}
