package quota_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// limiter is what Local and Shared have in common.
type limiter interface {
	Take(ctx context.Context, op string, now time.Time) (quota.Grant, error)
	TakeShare(ctx context.Context, op string, s quota.Share, now time.Time) (quota.Grant, error)
	Exhausted(ctx context.Context, op string, now time.Time) error
}

// feeds is the share of the change feeds in these scenarios: half.
var feeds = quota.Share{Name: "feeds", Part: 0.5}

// step is one request of a scenario and its expected answer.
type step struct {
	op        string
	exhausted bool // record OUT_OF_LIMIT instead of taking
	share     bool // take from the feeds' share
	at        time.Duration
	ok        bool
	used      int
	retryAt   time.Duration // when not ok; from the window's start
}

// TestGrantRule runs the same scenarios against Local and against Shared,
// the latter over two replicas taken in turn (so that neither's cache of
// spent windows knows what the other did): one rule, the same answers.
func TestGrantRule(t *testing.T) {
	t.Parallel()
	// Windows start at 18:00 UTC (21:00 Moscow); the guard is 2s.
	start := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	next := time.Hour + 2*time.Second
	mid := 30 * time.Minute
	cases := []struct {
		name  string
		cap   int
		steps []step
	}{
		{"a spent operation takes nothing from the account", 4, []step{
			{op: "ClientUserEdit", at: mid, ok: true, used: 1},
			{op: "ClientUserEdit", at: mid, ok: true, used: 2},
			{op: "ClientUserEdit", at: mid, used: 2, retryAt: next},
			{op: "ClientUserEdit", at: mid, used: 2, retryAt: next},
			{op: "ClientUserEdit", at: mid, used: 2, retryAt: next},
			{op: "ServiceRequestAdd", at: mid, ok: true, used: 1},
			{op: "ServiceRequestAdd", at: mid, ok: true, used: 2},
			{op: "ServiceRequestAdd", at: mid, used: 2, retryAt: next},
			{op: "Rare", at: mid, used: 0, retryAt: next},
			{op: "ClientUserEdit", at: time.Hour + mid, ok: true, used: 1},
		}},
		{"an exhausted operation takes nothing from the account", 2, []step{
			{op: "ServiceRequestAdd", exhausted: true, at: mid},
			{op: "ServiceRequestAdd", at: mid, retryAt: next},
			{op: "ServiceRequestAdd", at: mid, retryAt: next},
			{op: "ClientUserEdit", at: mid, ok: true, used: 1},
			{op: "ClientUserEdit", at: mid, ok: true, used: 2},
			{op: "ServiceRequestAdd", at: time.Hour + mid, ok: true, used: 1},
		}},
		{"the account cap binds every operation", 3, []step{
			{op: "ClientUserEdit", at: mid, ok: true, used: 1},
			{op: "ServiceRequestAdd", at: mid, ok: true, used: 1},
			{op: "Rare", at: mid, ok: true, used: 1},
			{op: "ServiceRequestAdd", at: mid, used: 1, retryAt: next},
			{op: "ClientUserEdit", at: mid, used: 1, retryAt: next},
		}},
		{"no cap", 0, []step{
			{op: "ServiceRequestAdd", at: mid, ok: true, used: 1},
			{op: "ClientUserEdit", at: mid, ok: true, used: 1},
			{op: "ClientUserEdit", at: mid, ok: true, used: 2},
			{op: "ClientUserEdit", at: mid, used: 2, retryAt: next},
		}},
		{"a share takes at most its part, and the rest stays for the others", 0, []step{
			{op: "ServiceRequestAdd", share: true, at: mid, ok: true, used: 1},
			{op: "ServiceRequestAdd", share: true, at: mid, ok: true, used: 2},
			{op: "ServiceRequestAdd", share: true, at: mid, ok: true, used: 3},
			{op: "ServiceRequestAdd", share: true, at: mid, ok: true, used: 4},
			{op: "ServiceRequestAdd", share: true, at: mid, ok: true, used: 5},
			{op: "ServiceRequestAdd", share: true, at: mid, used: 5, retryAt: next},
			{op: "ServiceRequestAdd", at: mid, ok: true, used: 6},
			{op: "ServiceRequestAdd", share: true, at: time.Hour + mid, ok: true, used: 1},
		}},
		{"a share counts on the operation and the account", 3, []step{
			{op: "ClientUserEdit", share: true, at: mid, ok: true, used: 1},
			{op: "ClientUserEdit", share: true, at: mid, used: 1, retryAt: next},
			{op: "ClientUserEdit", at: mid, ok: true, used: 2},
			{op: "ServiceRequestAdd", share: true, at: mid, ok: true, used: 1},
			{op: "ServiceRequestAdd", share: true, at: mid, used: 1, retryAt: next},
		}},
		{"a spent operation takes nothing from a share", 0, []step{
			{op: "ClientUserEdit", at: mid, ok: true, used: 1},
			{op: "ClientUserEdit", at: mid, ok: true, used: 2},
			{op: "ClientUserEdit", share: true, at: mid, used: 2, retryAt: next},
		}},
		{"guard intervals count nothing", 1, []step{
			{op: "ClientUserEdit", at: 0, retryAt: 2 * time.Second},
			{op: "ClientUserEdit", at: time.Hour - time.Second, retryAt: next},
			{op: "ClientUserEdit", at: mid, ok: true, used: 1},
		}},
	}
	cfg := func(limitCap int) quota.Config {
		return quota.Config{
			Windows: quota.Windows{Length: time.Hour, Location: quota.MoscowTime()},
			Limits: quota.Limits{Catalogue: catalogue, Reserve: -1, AccountCap: limitCap,
				Override: map[string]int{"ClientUserEdit": 2, "ServiceRequestAdd": 10}},
		}
	}
	limiters := map[string]func(t *testing.T, limitCap int) []limiter{
		"Local": func(t *testing.T, limitCap int) []limiter {
			q, err := quota.NewLocal(cfg(limitCap))
			require.NoError(t, err)
			return []limiter{q}
		},
		"Shared": func(t *testing.T, limitCap int) []limiter {
			srv := natstest.Server(t)
			var out []limiter
			for range 2 {
				_, js := natstest.Connect(t, srv.ClientURL())
				q, err := quota.NewShared(t.Context(), quota.SharedConfig{Config: cfg(limitCap), JetStream: js})
				require.NoError(t, err)
				out = append(out, q)
			}
			return out
		},
	}
	for kind, setup := range limiters {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				qs := setup(t, tc.cap)
				for i, s := range tc.steps {
					q := qs[i%len(qs)]
					now := start.Add(s.at)
					if s.exhausted {
						require.NoError(t, q.Exhausted(t.Context(), s.op, now))
						continue
					}
					take := q.Take
					if s.share {
						take = func(ctx context.Context, op string, now time.Time) (quota.Grant, error) {
							return q.TakeShare(ctx, op, feeds, now)
						}
					}
					g, err := take(t.Context(), s.op, now)
					require.NoError(t, err, "step %d", i)
					require.Equal(t, s.ok, g.OK, "step %d: %s", i, s.op)
					if s.ok {
						require.Equal(t, s.used, g.Used, "step %d: %s", i, s.op)
						continue
					}
					require.Equal(t, start.Add(s.retryAt), g.RetryAt.UTC(), "step %d: %s", i, s.op)
					if s.retryAt == next && s.used > 0 {
						require.Equal(t, s.used, g.Used, "step %d: %s", i, s.op)
					}
				}
			})
		}
	}
}

// TestSharedWastesNoAccountCall hammers one operation from three replicas
// until it is spent, with an account cap above its limit: every account
// call taken for a grant of it that lost its race is given back, so the
// account keeps exactly cap − limit calls for the other operations.
func TestSharedWastesNoAccountCall(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	ctx := t.Context()
	const replicas, goroutines, takes, limit, limitCap = 3, 4, 15, 5, 30
	cfg := func(js jetstream.JetStream) quota.SharedConfig {
		return quota.SharedConfig{JetStream: js, Config: quota.Config{
			Windows: quota.Windows{Length: time.Hour, Location: quota.MoscowTime()},
			Limits:  quota.Limits{Catalogue: catalogue, Reserve: -1, AccountCap: limitCap, Override: map[string]int{"ClientUserEdit": limit, "ServiceRequestAdd": 1000}},
		}}
	}
	var granted atomic.Int64
	var wg sync.WaitGroup
	var last *quota.Shared
	for range replicas {
		_, js := natstest.Connect(t, srv.ClientURL())
		q, err := quota.NewShared(ctx, cfg(js))
		require.NoError(t, err)
		last = q
		for range goroutines {
			wg.Go(func() {
				for range takes {
					g, err := q.Take(ctx, "ClientUserEdit", mid)
					if err != nil {
						t.Error(err)
						return
					}
					if g.OK {
						granted.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	require.EqualValues(t, limit, granted.Load())

	others := 0
	for {
		g, err := last.Take(ctx, "ServiceRequestAdd", mid)
		require.NoError(t, err)
		if !g.OK {
			break
		}
		others++
		require.LessOrEqual(t, others, limitCap, "the cap did not bind")
	}
	require.Equal(t, limitCap-limit, others, "no account call was lost to a grant that was not made")

	// The account's key says the same.
	_, js := natstest.Connect(t, srv.ClientURL())
	kv, err := js.KeyValue(ctx, quota.DefaultBucket)
	require.NoError(t, err)
	start := quota.Windows{Length: time.Hour, Location: quota.MoscowTime()}.Start(mid)
	e, err := kv.Get(ctx, "account."+strconv.FormatInt(start.Unix(), 10))
	require.NoError(t, err)
	var v struct{ Used int }
	require.NoError(t, json.Unmarshal(e.Value(), &v))
	require.Equal(t, limitCap, v.Used)
}

func TestLimitsAreChecked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  quota.Config
		want string
	}{
		{"unknown operation", quota.Config{Limits: quota.Limits{Catalogue: catalogue, Override: map[string]int{"ClientUserEditt": 5}}}, `unknown operation "ClientUserEditt"`},
		{"negative limit", quota.Config{Limits: quota.Limits{Catalogue: catalogue, Override: map[string]int{"*": -1}}}, "negative limit"},
		{"negative cap", quota.Config{Limits: quota.Limits{Catalogue: catalogue, AccountCap: -1}}, "account cap"},
		{"night hours out of range", quota.Config{Windows: quota.Windows{Night: tariff.Night{From: 25, To: 3}}, Limits: quota.Limits{Catalogue: catalogue}}, "night hours"},
	}
	require.NoError(t, quota.Config{Limits: quota.Limits{Catalogue: catalogue, Override: map[string]int{"*": 1, "Rare": 0}}}.Validate())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorContains(t, tc.cfg.Validate(), tc.want)
			_, err := quota.NewLocal(tc.cfg)
			require.ErrorContains(t, err, tc.want)
			_, err = quota.NewShared(t.Context(), quota.SharedConfig{Config: tc.cfg})
			require.ErrorContains(t, err, tc.want, "Shared checks the same")
		})
	}
}
