package quota_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// mid is an instant well inside a window, clear of the guards.
var mid = time.Date(2026, 11, 28, 18, 30, 0, 0, time.UTC)

func sharedConfig(js jetstream.JetStream, limit int) quota.SharedConfig {
	return quota.SharedConfig{
		JetStream: js,
		Config: quota.Config{
			Windows: quota.Windows{Length: time.Hour, Location: quota.MoscowTime()},
			Limits:  quota.Limits{Catalogue: catalogue, Override: map[string]int{"ClientUserEdit": limit}, Reserve: -1},
		},
	}
}

func TestSharedNeverGrantsMoreThanTheLimit(t *testing.T) {
	srv := natstest.Server(t)
	ctx := context.Background()
	const replicas, goroutines, limit = 3, 4, 50
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range replicas {
		// Each replica has its own connection and limiter, as separate
		// processes would.
		_, js := natstest.Connect(t, srv.ClientURL())
		q, err := quota.NewShared(ctx, sharedConfig(js, limit))
		require.NoError(t, err)
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 40 {
					g, err := q.Take(ctx, "ClientUserEdit", mid)
					if err != nil {
						t.Error(err)
						return
					}
					if g.OK {
						granted.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	require.EqualValues(t, limit, granted.Load(), "every call of the window granted, and not one more")
}

func TestSharedStateIsSeenByEveryReplica(t *testing.T) {
	srv := natstest.Server(t)
	ctx := context.Background()
	_, jsA := natstest.Connect(t, srv.ClientURL())
	ncB, jsB := natstest.Connect(t, srv.ClientURL())
	a, err := quota.NewShared(ctx, sharedConfig(jsA, 5))
	require.NoError(t, err)
	b, err := quota.NewShared(ctx, sharedConfig(jsB, 5))
	require.NoError(t, err)

	// Replica B takes two grants and dies before using them: they stay
	// spent, and A cannot take them again.
	for range 2 {
		g, err := b.Take(ctx, "ClientUserEdit", mid)
		require.NoError(t, err)
		require.True(t, g.OK)
	}
	ncB.Close()
	for i := 3; i <= 5; i++ {
		g, err := a.Take(ctx, "ClientUserEdit", mid)
		require.NoError(t, err)
		require.True(t, g.OK)
		require.Equal(t, i, g.Used)
	}
	g, err := a.Take(ctx, "ClientUserEdit", mid)
	require.NoError(t, err)
	require.False(t, g.OK)

	// OUT_OF_LIMIT recorded by one replica stops the others in the window.
	_, jsC := natstest.Connect(t, srv.ClientURL())
	c, err := quota.NewShared(ctx, sharedConfig(jsC, 5))
	require.NoError(t, err)
	g, err = c.Take(ctx, "ServiceRequestAdd", mid)
	require.NoError(t, err)
	require.True(t, g.OK)
	require.NoError(t, a.Exhausted(ctx, "ServiceRequestAdd", mid))
	g, err = c.Take(ctx, "ServiceRequestAdd", mid)
	require.NoError(t, err)
	require.False(t, g.OK)
	require.Equal(t, time.Date(2026, 11, 28, 19, 0, 2, 0, time.UTC), g.RetryAt.UTC())
	// Next window: fresh.
	g, err = c.Take(ctx, "ServiceRequestAdd", mid.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, g.OK)

	r, err := quota.NewReader(quota.ReaderConfig{Config: sharedConfig(jsC, 5).Config, JetStream: jsC})
	require.NoError(t, err)
	st, err := r.Status(ctx, []string{"ClientUserEdit", "ServiceRequestAdd"}, mid)
	require.NoError(t, err)
	require.Equal(t, quota.Status{Op: "ClientUserEdit", Limit: 5, Used: 5, Reset: st[0].Reset}, st[0])
	require.True(t, st[1].Exhausted)
	require.Zero(t, st[1].Remaining())
}

func TestSharedFailsClosedAndRecovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	srv, err := embednats.Start(embednats.Config{Port: port, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown() })
	_, js := natstest.Connect(t, srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	q, err := quota.NewShared(ctx, sharedConfig(js, 100))
	require.NoError(t, err)
	g, err := q.Take(ctx, "ClientUserEdit", mid)
	require.NoError(t, err)
	require.True(t, g.OK)

	srv.Shutdown()
	srv.WaitForShutdown()
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	g, err = q.Take(tctx, "ClientUserEdit", mid)
	cancel()
	require.Error(t, err, "no ledger, no grant")
	require.False(t, g.OK)

	srv, err = embednats.Start(embednats.Config{Port: port, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		g, err = q.Take(tctx, "ClientUserEdit", mid)
		cancel()
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the ledger did not come back: %v", err)
	}
	require.True(t, g.OK)
	require.Equal(t, 2, g.Used, "the ledger kept its count across the restart")
}

// TestSharedRecreatesADeletedBucket deletes the ledger's bucket under a
// limiter: the next Take creates it again and grants, instead of failing
// until a restart.
func TestSharedRecreatesADeletedBucket(t *testing.T) {
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx := context.Background()
	q, err := quota.NewShared(ctx, sharedConfig(js, 5))
	require.NoError(t, err)
	g, err := q.Take(ctx, "ClientUserEdit", mid)
	require.NoError(t, err)
	require.True(t, g.OK)
	require.Equal(t, 1, g.Used)

	require.NoError(t, js.DeleteKeyValue(ctx, quota.DefaultBucket))
	// The bucket is created again; its stream may need a moment to answer,
	// as a lane would see (it asks again a second later).
	require.Eventually(t, func() bool {
		g, err = q.Take(ctx, "ClientUserEdit", mid.Add(time.Second))
		return err == nil && g.OK
	}, 10*time.Second, 50*time.Millisecond, "the bucket is created again")
	require.Equal(t, 1, g.Used, "the deleted ledger's calls are lost with it")
	_, err = js.KeyValue(ctx, quota.DefaultBucket)
	require.NoError(t, err)
	require.NoError(t, q.Exhausted(ctx, "ClientUserEdit", mid.Add(2*time.Second)))
	g, err = q.Take(ctx, "ClientUserEdit", mid.Add(3*time.Second))
	require.NoError(t, err)
	require.False(t, g.OK)
}
