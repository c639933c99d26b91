package feed_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
)

// TestFeedEventsCarryThePollsTrace: each poll is a span, and every event
// it published carries that span's traceparent.
func TestFeedEventsCarryThePollsTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	w := newWorld(t, emulator.Config{}, nil)
	w.emu.SeedClientUsers(5)
	stop := w.run([]feed.Feed{userFeed(time.Hour)}, func(c *feed.Config) { c.Tracer = tp })
	w.waitEvents(5, 30*time.Second)
	stop()

	polls := map[trace.TraceID]bool{}
	for _, s := range exp.GetSpans() {
		if s.Name == "poll ClientUserRead" {
			polls[s.SpanContext.TraceID()] = true
		}
	}
	require.NotEmpty(t, polls)
	st, err := w.js.Stream(context.Background(), feed.ChangeStream)
	require.NoError(t, err)
	for seq := uint64(1); seq <= 5; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		require.NoError(t, err)
		tp := m.Header.Get(contract.HeaderTraceparent)
		require.NotEmpty(t, tp, "event %d has no traceparent", seq)
		ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
		require.True(t, polls[trace.SpanContextFromContext(ctx).TraceID()], "event %d's trace is a poll's", seq)
	}
}
