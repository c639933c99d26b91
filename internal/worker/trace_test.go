package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/contracttest"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// TestTraceFollowsACommand follows commands from a producer's span to
// their results: each command's span is a child of the producer's, the
// API call's span is linked to the spans of the commands it carried, and
// each result carries a traceparent of the producer's trace, on the
// reply subject and in the result stream.
func TestTraceFollowsACommand(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b := setup(t, options{worker: func(c *worker.Config) { c.Tracer = tp }})
	users := b.emu.SeedClientUsers(3)

	ctx, producer := tp.Tracer("producer").Start(context.Background(), "update profiles")
	inbox := nats.NewInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	require.NoError(t, err)
	for i, u := range users {
		m := contracttest.Command(t, "ClientUserEdit", fmt.Sprintf("t-%d", i), inbox, userFields(u, i))
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(http.Header(m.Header)))
		_, err := b.js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	producer.End()
	want := producer.SpanContext().TraceID()
	for range users {
		m, err := sub.NextMsg(30 * time.Second)
		require.NoError(t, err)
		r, err := contract.DecodeResult(m.Data)
		require.NoError(t, err)
		require.Equal(t, contract.CodeSuccess, r.Code)
		require.Equal(t, want, traceOf(m.Header), "the reply's traceparent continues the producer's trace")
	}

	var commands, calls []tracetest.SpanStub
	waitFor(t, 10*time.Second, "the spans", func() bool {
		commands, calls = commands[:0], calls[:0]
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case "command ClientUserEdit":
				commands = append(commands, s)
			case "call ClientUserEdit":
				calls = append(calls, s)
			}
		}
		return len(commands) == len(users) && len(calls) > 0
	})
	linked := map[trace.SpanID]bool{}
	for _, c := range calls {
		require.Equal(t, trace.SpanKindClient, c.SpanKind)
		for _, l := range c.Links {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	for _, c := range commands {
		require.Equal(t, want, c.SpanContext.TraceID(), "the command's span is in the producer's trace")
		require.Equal(t, producer.SpanContext().SpanID(), c.Parent.SpanID(), "its parent is the producer's span")
		require.True(t, linked[c.SpanContext.SpanID()], "an API call's span links to the command's")
		events := map[string]bool{}
		for _, e := range c.Events {
			events[e.Name] = true
		}
		require.True(t, events["sent"], "the command's span records its call")
	}

	// The result stream's copy carries it too.
	for id, rs := range resultStream(t, b.js) {
		require.NotEmpty(t, rs, id)
	}
	st, err := b.js.Stream(context.Background(), contract.ResultStream)
	require.NoError(t, err)
	msg, err := st.GetLastMsgForSubject(context.Background(), contract.ResultPrefix+"ClientUserEdit")
	require.NoError(t, err)
	require.Equal(t, want, traceOf(msg.Header))
}

// traceOf reads the trace id of a message's traceparent header (W3C's
// lower-case name, as the worker writes it).
func traceOf(h nats.Header) trace.TraceID {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": h.Get("traceparent")})
	return trace.SpanContextFromContext(ctx).TraceID()
}

// TestInvalidFieldsAreListed: an INVALID_FIELDS result lists each field
// and its problem, as its error says in words.
func TestInvalidFieldsAreListed(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	inbox := nats.NewInbox()
	res := collect(t, b.nc, inbox)
	publish(t, b.js, "ClientUserEdit", "bad-1", inbox, map[string]any{"ClientUserID": "not-a-uuid", "Name": "Анна", "Password": "p", "Phone": "1"})
	r := res.Wait(t, 1, 30*time.Second)["bad-1"][0]
	require.Equal(t, contract.CodeInvalidFields, r.Code)
	require.Equal(t, []contract.FieldProblem{{Field: "ClientUserID", Problem: "not a UUID"}, {Field: "EMail", Problem: "required"}}, r.Fields)
	require.Contains(t, r.Error, "ClientUserID: not a UUID")
}
