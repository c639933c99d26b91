package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

func readerConfig(js jetstream.JetStream, limit int) quota.ReaderConfig {
	return quota.ReaderConfig{JetStream: js, Config: sharedConfig(nil, limit).Config}
}

// TestReaderSeesTheSharedLedger: a reader sees what the limiters granted,
// in the window asked for, with the limits they use.
func TestReaderSeesTheSharedLedger(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx := context.Background()
	q, err := quota.NewShared(ctx, sharedConfig(js, 5))
	require.NoError(t, err)
	for range 3 {
		g, err := q.Take(ctx, "ClientUserEdit", mid)
		require.NoError(t, err)
		require.True(t, g.OK)
	}
	require.NoError(t, q.Exhausted(ctx, "ServiceRequestAdd", mid))

	_, rjs := natstest.Connect(t, srv.ClientURL())
	r, err := quota.NewReader(readerConfig(rjs, 5))
	require.NoError(t, err)
	require.Equal(t, q.Windows(), r.Windows())
	st, err := r.Status(ctx, []string{"ClientUserEdit", "ServiceRequestAdd", "Rare"}, mid)
	require.NoError(t, err)
	reset := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	require.Len(t, st, 3)
	require.Equal(t, quota.Status{Op: "ClientUserEdit", Limit: 5, Used: 3, Reset: st[0].Reset}, st[0])
	require.True(t, reset.Equal(st[0].Reset))
	require.True(t, st[1].Exhausted)
	require.Equal(t, 50, st[1].Limit, "the catalogue's limit, no reserve")
	require.Zero(t, st[2].Used, "no call in the window: no key, nothing used")

	// The window before, and the next one: nothing used.
	for _, at := range []time.Time{mid.Add(-time.Hour), mid.Add(time.Hour)} {
		st, err = r.Status(ctx, []string{"ClientUserEdit"}, at)
		require.NoError(t, err)
		require.Zero(t, st[0].Used)
		require.True(t, r.Windows().Start(at).Add(time.Hour).Equal(st[0].Reset))
	}
	limit, err := r.Limit("ClientUserEdit", mid)
	require.NoError(t, err)
	require.Equal(t, 5, limit)
	_, err = r.Limit("NoSuchOperation", mid)
	require.ErrorIs(t, err, quota.ErrUnknownOperation)
	_, err = r.Status(ctx, []string{"NoSuchOperation"}, mid)
	require.ErrorIs(t, err, quota.ErrUnknownOperation)
}

// TestReaderNeverWrites: without a bucket the reader answers ErrNoLedger
// and creates nothing; with one, reading leaves it as it was.
func TestReaderNeverWrites(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx := context.Background()

	r, err := quota.NewReader(readerConfig(js, 5))
	require.NoError(t, err)
	_, err = r.Status(ctx, []string{"ClientUserEdit"}, mid)
	require.ErrorIs(t, err, quota.ErrNoLedger)
	_, err = js.KeyValue(ctx, quota.DefaultBucket)
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound, "the reader created no bucket")

	q, err := quota.NewShared(ctx, sharedConfig(js, 5))
	require.NoError(t, err)
	g, err := q.Take(ctx, "ClientUserEdit", mid)
	require.NoError(t, err)
	require.True(t, g.OK)
	stream, err := js.Stream(ctx, "KV_"+quota.DefaultBucket)
	require.NoError(t, err)
	before, err := stream.Info(ctx)
	require.NoError(t, err)
	// The same reader finds the bucket once it exists.
	for range 3 {
		st, err := r.Status(ctx, []string{"ClientUserEdit", "Rare"}, mid)
		require.NoError(t, err)
		require.Equal(t, 1, st[0].Used)
	}
	after, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, before.State.LastSeq, after.State.LastSeq, "reading wrote nothing")

	// A bucket deleted under the reader: ErrNoLedger again, not a stale
	// count, and nothing created.
	require.NoError(t, js.DeleteKeyValue(ctx, quota.DefaultBucket))
	var lastErr error
	for range 2 {
		_, lastErr = r.Status(ctx, []string{"ClientUserEdit"}, mid)
		require.Error(t, lastErr)
	}
	require.ErrorIs(t, lastErr, quota.ErrNoLedger)
	_, err = js.KeyValue(ctx, quota.DefaultBucket)
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound)

	none, err := quota.NewReader(readerConfig(nil, 5))
	require.NoError(t, err)
	_, err = none.Status(ctx, []string{"ClientUserEdit"}, mid)
	require.ErrorIs(t, err, quota.ErrNoLedger)
}

func TestReaderChecksItsConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  quota.ReaderConfig
	}{
		{"no catalogue", quota.ReaderConfig{}},
		{"guard too long", quota.ReaderConfig{Config: quota.Config{
			Windows: quota.Windows{Length: 2 * time.Second, Guard: time.Second},
			Limits:  quota.Limits{Catalogue: catalogue}}}},
		{"reserve too big", quota.ReaderConfig{Config: quota.Config{Limits: quota.Limits{Catalogue: catalogue, Reserve: 0.95}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := quota.NewReader(tt.cfg)
			require.Error(t, err)
		})
	}
}
