package connect_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// BenchmarkConsumeChanges hands b.N stored events to a handler that does
// nothing, with 16 in flight, and reports the events per second (each
// acknowledgement confirmed by the server).
func BenchmarkConsumeChanges(b *testing.B) {
	c, js := benchChangeStream(b)
	ctx := context.Background()
	payload := eventJSON(b, "ClientUser", "u-1")
	for range b.N {
		_, err := js.PublishAsync("connect.change.ClientUser", payload)
		require.NoError(b, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged")
	}
	b.ReportAllocs()
	b.ResetTimer()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n atomic.Int64
	err := c.ConsumeChanges(cctx, "bench", nil, func(context.Context, connect.ChangeEvent) error {
		if n.Add(1) == int64(b.N) {
			cancel()
		}
		return nil
	})
	b.StopTimer()
	require.NoError(b, err)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchChangeStream(b *testing.B) (*connect.Client, jetstream.JetStream) {
	b.Helper()
	srv := natstest.Server(b)
	_, js := natstest.Connect(b, srv.ClientURL())
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "CONNECT_CHANGES", Subjects: []string{"connect.change.>"}})
	require.NoError(b, err)
	nc, _ := natstest.Connect(b, srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	return c, js
}
