package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	rules
	js     jetstream.JetStream
	kvCfg  jetstream.KeyValueConfig
	bucket string

	mu sync.Mutex // protects kv, full, accountFull, recreated
	kv jetstream.KeyValue
	// full caches, per operation, the start of a window known to be spent:
	// an operation's window never becomes unspent, so asking again is not
	// needed.
	full map[string]time.Time
	// accountFull is the start of a window whose account cap is known to
	// be reached. A call given back (see giveBack) can free one again;
	// this replica then leaves it unused: under-use, never over.
	accountFull time.Time
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
	r, err := newRules(cfg.Config)
	if err != nil {
		return nil, err
	}
	w := r.w
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
	return &Shared{rules: r, js: cfg.JetStream, kvCfg: kvCfg, kv: kv, bucket: cfg.Bucket, full: map[string]time.Time{}}, nil
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

// shareKey is the ledger key of a share of op in the window starting at
// start.
func shareKey(share, op string, start time.Time) string {
	return "share." + share + "." + op + "." + strconv.FormatInt(start.Unix(), 10)
}

// accountKey is the key of the per-account cap.
func accountKey(start time.Time) string { return "account." + strconv.FormatInt(start.Unix(), 10) }

// Take asks for one call of op at now. It never sleeps: contention on a
// key is retried at once, a bounded number of times. An error means the
// ledger could not be read or written; no call may be made (fail closed).
//
// The grant rule (rule.go) is applied over two keys, which JetStream
// cannot change together. So: the operation's key is read first, and a
// spent operation is refused without touching the account's key (no
// account call wasted on it, and no write to the one key every replica
// and every operation shares); then the account's call is taken, then the
// operation's, each a compare-and-set; when the operation's fails (another
// replica spent it meanwhile, or the ledger failed), the account's call is
// given back. The account's goes first because what a crash between the
// two writes loses is the first: one call of the account's wide cap
// rather than one of an operation's narrow limit.
func (q *Shared) Take(ctx context.Context, op string, now time.Time) (Grant, error) {
	return q.take(ctx, op, nil, now)
}

// TakeShare asks for one call of op at now from share s: within the
// operation's limit, and within s's part of it, counted on the key
// share.<s.Name>.<op>.<window> beside the operation's. The share's call is
// taken after the operation's key was read and before the account's,
// and given back when a later step fails.
func (q *Shared) TakeShare(ctx context.Context, op string, s Share, now time.Time) (Grant, error) {
	if err := validShare(s); err != nil {
		return Grant{}, err
	}
	return q.take(ctx, op, &s, now)
}

func (q *Shared) take(ctx context.Context, op string, s *Share, now time.Time) (Grant, error) {
	req, done, err := q.begin(op, now)
	if done {
		return req.g, err
	}
	start := req.g.Start
	if q.spent(op, start) {
		return req.denied(req.g.Limit), nil
	}
	k := key(op, start)
	cur, rev, err := q.get(ctx, k, now)
	if err != nil {
		return req.g, err
	}
	if !cur.room(req.g.Limit) {
		q.markSpent(op, start)
		return req.denied(cur.Used), nil
	}
	// taken are the keys counted so far, given back if a later step fails.
	var taken []string
	giveBack := func() {
		for _, t := range taken {
			q.giveBack(ctx, t, now)
		}
	}
	if s != nil {
		sk := shareKey(s.Name, op, start)
		ok, _, err := q.increment(ctx, sk, s.limit(req.g.Limit), now, nil)
		switch {
		case errors.Is(err, ErrBusy):
			return req.busy(now), nil
		case err != nil:
			return req.g, err
		case !ok:
			return req.denied(cur.Used), nil
		}
		taken = append(taken, sk)
	}
	if req.cap > 0 {
		if q.accountSpent(start) {
			giveBack()
			return req.denied(cur.Used), nil
		}
		ok, _, err := q.increment(ctx, accountKey(start), req.cap, now, nil)
		if err != nil || !ok {
			giveBack()
		}
		switch {
		case errors.Is(err, ErrBusy):
			return req.busy(now), nil
		case err != nil:
			return req.g, err
		case !ok:
			q.markAccountSpent(start)
			return req.denied(cur.Used), nil
		}
		taken = append(taken, accountKey(start))
	}
	ok, used, err := q.increment(ctx, k, req.g.Limit, now, &seen{cur, rev})
	if err != nil || !ok {
		giveBack()
	}
	switch {
	case errors.Is(err, ErrBusy):
		return req.busy(now), nil
	case err != nil:
		return req.g, err
	case !ok:
		q.markSpent(op, start)
		return req.denied(used), nil
	}
	return req.granted(used), nil
}

// seen is a key's entry as just read, at its revision.
type seen struct {
	e   entry
	rev uint64
}

// increment adds one call to the key if it has room under limit (see
// entry.room). It reports whether it did, and the calls counted. first,
// when not nil, is the key as just read: the first attempt writes on it
// instead of reading again.
func (q *Shared) increment(ctx context.Context, k string, limit int, now time.Time, first *seen) (bool, int, error) {
	for range casRetries {
		var cur entry
		var rev uint64
		if first != nil {
			cur, rev, first = first.e, first.rev, nil
		} else {
			var err error
			if cur, rev, err = q.get(ctx, k, now); err != nil {
				return false, 0, err
			}
		}
		if !cur.room(limit) {
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

// giveBack takes back one call counted on the key but not made. It is
// best effort: when the ledger fails or stays contended, the call stays
// counted, and the window has one call fewer (fail closed).
func (q *Shared) giveBack(ctx context.Context, k string, now time.Time) {
	for range casRetries {
		cur, rev, err := q.get(ctx, k, now)
		if err != nil || cur.Used == 0 {
			return
		}
		cur.Used--
		ok, err := q.put(ctx, k, cur, rev, now)
		if err != nil || ok {
			return
		}
	}
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

func (q *Shared) accountSpent(start time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.accountFull.Equal(start)
}

func (q *Shared) markAccountSpent(start time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accountFull = start
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
