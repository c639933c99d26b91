package connect_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// mirrorBucket makes the mirror's bucket on a bare server and a client.
func mirrorBucket(t *testing.T) (*connect.Client, jetstream.KeyValue) {
	t.Helper()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: contract.MirrorBucket})
	require.NoError(t, err)
	nc, _ := natstest.Connect(t, srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, kv
}

func putRecord(t *testing.T, kv jetstream.KeyValue, object, id string, r contract.MirrorRecord) {
	t.Helper()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), contract.MirrorKey(object, id), b)
	require.NoError(t, err)
}

// TestMirrorGetListWatch: Get finds a record by object and id (ids of
// any bytes, through their base64url key) or ErrNotFound; List yields
// one object's records, and an error for each record that cannot be
// read without stopping; Watch yields writes and removals as they come.
func TestMirrorGetListWatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, kv := mirrorBucket(t)
	seen := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	putRecord(t, kv, "ClientUser", "u-1", contract.MirrorRecord{Data: map[string]any{"Name": "Анна"}, Version: "v1", Seen: seen, Read: "ClientUserRead"})
	putRecord(t, kv, "ClientUser", "u/2 with spaces", contract.MirrorRecord{Data: map[string]any{"Name": "Борис"}, Deleted: true, Version: "v2", Seen: seen})
	putRecord(t, kv, "Specialist", "s-1", contract.MirrorRecord{Data: map[string]any{"Name": "Вера"}, Version: "v3", Seen: seen})
	_, err := kv.Put(ctx, "ClientUser.!!!", []byte(`{}`)) // not base64url
	require.Error(t, err, "the bucket refuses such a key")
	_, err = kv.Put(ctx, "ClientUser.a", []byte(`{}`)) // not a whole base64url
	require.NoError(t, err)
	_, err = kv.Put(ctx, contract.MirrorKey("ClientUser", "junk"), []byte{0xc1, 0x00})
	require.NoError(t, err)

	m := c.Mirror()
	t.Run("get", func(t *testing.T) {
		r, err := m.Get(ctx, "ClientUser", "u-1")
		require.NoError(t, err)
		require.Equal(t, connect.Record{Object: "ClientUser", ID: "u-1", Data: map[string]any{"Name": "Анна"}, Version: "v1", Seen: seen, Read: "ClientUserRead", Revision: r.Revision}, r)
		require.NotZero(t, r.Revision)
		var u struct{ Name string }
		require.NoError(t, r.Decode(&u))
		require.Equal(t, "Анна", u.Name)
		r, err = m.Get(ctx, "ClientUser", "u/2 with spaces")
		require.NoError(t, err)
		require.True(t, r.Deleted, "a tombstone")
		_, err = m.Get(ctx, "ClientUser", "nobody")
		require.ErrorIs(t, err, connect.ErrNotFound)
		_, err = m.Get(ctx, "ClientUser", "junk")
		require.ErrorContains(t, err, "not a JSON object")
		_, err = m.Get(ctx, "Client.User", "u-1")
		require.ErrorContains(t, err, "want an object name")
	})
	t.Run("list", func(t *testing.T) {
		ids, bad := map[string]bool{}, 0
		for r, err := range m.List(ctx, "ClientUser") {
			if err != nil {
				bad++
				continue
			}
			require.Equal(t, "ClientUser", r.Object)
			ids[r.ID] = true
		}
		require.Equal(t, map[string]bool{"u-1": true, "u/2 with spaces": true}, ids)
		require.Equal(t, 2, bad, "the key that is not base64url and the record that is not JSON")
		all := 0
		for _, err := range m.List(ctx, "") {
			if err == nil {
				all++
			}
		}
		require.Equal(t, 3, all, "every object's records")
		n := 0
		for range m.List(ctx, "ClientUser") {
			n++
			break // the loop may stop early
		}
		require.Equal(t, 1, n)
	})
	t.Run("watch", func(t *testing.T) {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		records, err := m.Watch(wctx, "Specialist")
		require.NoError(t, err)
		got := make(chan connect.Record, 4)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for r, err := range records {
				if err == nil {
					got <- r
				}
			}
		}()
		putRecord(t, kv, "Specialist", "s-2", contract.MirrorRecord{Data: map[string]any{"Name": "Глеб"}, Version: "v4", Seen: seen})
		first := wait(t, ctx, got, "the write")
		require.Equal(t, "s-2", first.ID)
		require.NoError(t, kv.Delete(ctx, contract.MirrorKey("Specialist", "s-1")))
		for {
			r := wait(t, ctx, got, "the removal")
			if r.ID == "s-1" {
				require.True(t, r.Removed)
				break
			}
		}
		stop()
		wait(t, ctx, ended, "the watch to end with its context")
		_, err = m.Watch(ctx, "Client.User")
		require.ErrorContains(t, err, "want an object name")
	})
}
