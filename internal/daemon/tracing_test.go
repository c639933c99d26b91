package daemon_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/onec-connect/connect-bridge/internal/daemon"
)

// TestTracerProvider: no exporter unless the OTEL_* variables ask for one;
// OTLP over HTTP when they do; what the worker cannot do is refused.
func TestTracerProvider(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		env  map[string]string
		noop bool
		err  string
	}{
		{name: "nothing set", noop: true},
		{name: "switched off", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, noop: true},
		{name: "an endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "otlp by name", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "another exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "only otlp"},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: "http/protobuf only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, shutdown, err := daemon.TracerProvider(ctx, func(k string) string { return c.env[k] })
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			defer func() { require.NoError(t, shutdown(ctx)) }()
			_, isNoop := tp.(noop.TracerProvider)
			require.Equal(t, c.noop, isNoop)
		})
	}
}
