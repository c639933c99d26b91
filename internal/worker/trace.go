package worker

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Traces (OpenTelemetry). A command whose headers carry a W3C traceparent
// continues the producer's trace: the worker records a span per command,
// from its arrival to its final result (with an event when it is sent in
// a call), and a span per API call, linked to the spans of the commands
// it carried. The result, on the result stream and on the reply subject,
// carries the command span's traceparent, so the producer's trace goes on
// from it. Without Config.Tracer, spans cost nothing (a no-op tracer).

// traceContext is the W3C propagator: traceparent and tracestate.
var traceContext = propagation.TraceContext{}

// headerCarrier lets the propagator read and write NATS headers.
func headerCarrier(h nats.Header) contract.TraceCarrier { return contract.TraceCarrier(h) }

// tracer returns the worker's tracer.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/onec-connect/connect-bridge/internal/worker")
}

// startCommand starts e's span, continuing the trace its headers carry.
func (w *Worker) startCommand(e *entry, h nats.Header) {
	parent := context.Background()
	if h != nil {
		parent = traceContext.Extract(parent, headerCarrier(h))
	}
	_, e.span = w.tracer.Start(parent, "command "+e.op, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("connect.op", e.op), attribute.Int64("messaging.message.stream_sequence", int64(e.seq))))
}

// endCommand ends fn's command span with its result, and puts its trace
// context on the result's headers.
func (fn *final) endCommand() {
	s := fn.e.span
	if s == nil {
		return
	}
	s.SetAttributes(attribute.String("connect.id", fn.result.ID), attribute.String("connect.code", fn.result.Code),
		attribute.String("connect.batch", fn.result.Batch), attribute.Int("connect.attempts", fn.result.Attempts))
	if fn.result.Code != contract.CodeSuccess {
		s.SetStatus(codes.Error, fn.result.Code)
	}
	s.End()
}

// injectTrace writes e's trace context into h: the result's traceparent.
func injectTrace(e *entry, h nats.Header) {
	if e.span == nil || !e.span.SpanContext().IsValid() {
		return
	}
	traceContext.Inject(trace.ContextWithSpan(context.Background(), e.span), headerCarrier(h))
}

// startCall starts the span of an API call carrying items, linked to
// their spans, each of which records that it was sent.
func (l *lane) startCall(ctx context.Context, batch string, items []batcher.Item[*entry]) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(items))
	for _, it := range items {
		if s := it.Value.span; s != nil {
			s.AddEvent("sent", trace.WithAttributes(attribute.String("connect.batch", batch), attribute.Int("connect.rows", len(items))))
			links = append(links, trace.Link{SpanContext: s.SpanContext()})
		}
	}
	return l.w.tracer.Start(ctx, "call "+l.op.Name, trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("connect.op", l.op.Name), attribute.String("connect.batch", batch), attribute.Int("connect.rows", len(items))))
}

// endCall ends a call's span with its error.
func endCall(s trace.Span, err error) {
	if err != nil {
		s.RecordError(err)
		s.SetStatus(codes.Error, err.Error())
	}
	s.End()
}
