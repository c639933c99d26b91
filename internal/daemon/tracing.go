package daemon

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerProvider returns where the process's spans go: nowhere unless the
// standard OpenTelemetry variables ask for an exporter
// (OTEL_TRACES_EXPORTER=otlp, or an OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), then to OTLP over HTTP, configured
// by the exporter's own OTEL_EXPORTER_OTLP_* variables (endpoint, headers,
// TLS, timeout) and named by OTEL_SERVICE_NAME (default
// connect-bridge-worker). shutdown flushes what is left.
func TracerProvider(ctx context.Context, getenv func(string) string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	endpoint := cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	switch {
	case exporter == "none", exporter == "" && endpoint == "":
		return noop.NewTracerProvider(), none, nil
	case exporter != "" && exporter != "otlp":
		return nil, none, fmt.Errorf("daemon: OTEL_TRACES_EXPORTER=%q: only otlp (over HTTP) or none", exporter)
	}
	if p := cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); p != "" && p != "http/protobuf" {
		return nil, none, fmt.Errorf("daemon: OTLP protocol %q: the worker exports over http/protobuf only", p)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, none, fmt.Errorf("daemon: OTLP exporter: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cmp.Or(getenv("OTEL_SERVICE_NAME"), "connect-bridge-worker")))
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return sdk, sdk.Shutdown, nil
}
