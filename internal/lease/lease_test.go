package lease_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/lease"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LeakOptions()...) }

const ttl = time.Second

// setup returns a fresh bucket of leases on an embedded JetStream.
func setup(t *testing.T) jetstream.KeyValue {
	t.Helper()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := lease.Bucket(ctx, js, "LEASES", "test leases", 1, ttl)
	require.NoError(t, err)
	return kv
}

// runner is one holder running work on a key until stopped.
type runner struct {
	stop    func()
	working atomic.Bool
	runs    atomic.Int32 // times work started
	lost    chan struct{}
}

func start(t *testing.T, kv jetstream.KeyValue, key string) *runner {
	t.Helper()
	h, err := lease.New(lease.Config{KV: kv, TTL: ttl})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{lost: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	wg.Go(func() {
		h.Run(ctx, key, func(wctx context.Context) {
			r.runs.Add(1)
			r.working.Store(true)
			<-wctx.Done()
			r.working.Store(false)
			if ctx.Err() == nil {
				r.lost <- struct{}{}
			}
		})
	})
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(r.stop)
	return r
}

// TestOneHolderAtATime: of three holders of one key one works; when it
// stops another takes over at once (the lease is released, not left to
// expire); a key of its own is held beside it.
func TestOneHolderAtATime(t *testing.T) {
	t.Parallel()
	kv := setup(t)
	rs := []*runner{start(t, kv, "a"), start(t, kv, "a"), start(t, kv, "a")}
	other := start(t, kv, "b")
	working := func() int {
		n := 0
		for _, r := range rs {
			if r.working.Load() {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return working() == 1 && other.working.Load() }, 10*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { return working() > 1 }, 2*ttl, 10*time.Millisecond, "renewals keep it with one holder")
	held, err := lease.Held(context.Background(), kv, "a")
	require.NoError(t, err)
	require.True(t, held)

	for range 2 {
		var holder *runner
		for _, r := range rs {
			if r.working.Load() {
				holder = r
			}
		}
		stopped := time.Now()
		holder.stop()
		require.Eventually(t, func() bool { return working() == 1 }, 10*time.Second, 5*time.Millisecond)
		require.Less(t, time.Since(stopped), ttl, "taken over before the TTL: the lease was released")
	}
}

// TestLostLease: when another writes the key (the lease passed on while
// this holder was stalled), the holder's work is told at its next
// renewal, and it waits for the lease again.
func TestLostLease(t *testing.T) {
	t.Parallel()
	kv := setup(t)
	r := start(t, kv, "a")
	require.Eventually(t, r.working.Load, 10*time.Second, 10*time.Millisecond)
	_, err := kv.Put(context.Background(), "a", []byte("someone else"))
	require.NoError(t, err)
	select {
	case <-r.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder did not notice it lost the lease")
	}
	// The intruder never renews: its lease expires and the holder takes
	// it back.
	require.Eventually(t, func() bool { return r.runs.Load() == 2 && r.working.Load() }, 10*time.Second, 10*time.Millisecond)
	held, err := lease.Held(context.Background(), kv, "nobody")
	require.NoError(t, err)
	require.False(t, held)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := lease.New(lease.Config{TTL: time.Second})
	require.ErrorContains(t, err, "KV")
	_, err = lease.New(lease.Config{KV: setup(t)})
	require.ErrorContains(t, err, "TTL")
}
