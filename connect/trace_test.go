package connect_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

// TestWithHeadersPropagatesTheCallersTrace: with WithHeaders injecting
// the caller's trace context, the worker's span of the command is a child
// of the caller's span.
func TestWithHeadersPropagatesTheCallersTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := setup(t, setupOpts{tracer: tp})
	c := b.client(t, "", connect.WithHeaders(func(ctx context.Context, h nats.Header) {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(http.Header(h)))
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, span := tp.Tracer("caller").Start(ctx, "create a department")
	_, err := c.Do(ctx, ops.DepartmentAdd{Name: connect.Set("Support")})
	require.NoError(t, err)
	span.End()
	require.Eventually(t, func() bool {
		for _, s := range exp.GetSpans() {
			if s.Name == "command DepartmentAdd" && s.Parent.SpanID() == span.SpanContext().SpanID() &&
				s.SpanContext.TraceID() == span.SpanContext().TraceID() {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the worker's span of the command is a child of the caller's")
}
