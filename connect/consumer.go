package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// ChangeEvent is one state of one object of the service, as a feed of
// the bridge published it to connect.change.<Object>.
type ChangeEvent struct {
	// Object is the catalogue's object name, e.g. ClientUser; ID is the
	// object's id (its key columns joined by "/" for a read keyed by two).
	Object, ID string
	// Deleted reports that the object is deleted.
	Deleted bool
	// Data is the object's row by column name, typed as in results.
	Data map[string]any
	// Read is the read that saw it, Seen when (UTC).
	Read string
	Seen time.Time
	// Version is a hash of Data and Deleted: an event whose version is
	// the last one handled for the object repeats a state already seen.
	Version string
	// Delivery is where the message stands in the stream.
	Delivery
}

// Decode reads Data into v, as Result.Decode does.
func (e ChangeEvent) Decode(v any) error {
	return decodeData(e.Data, v, "change of "+e.Object+" "+e.ID)
}

// HistoryRow is one row of a history or statistics read, as an export
// of the bridge published it to connect.history.<Operation>.
type HistoryRow struct {
	// Op is the read, e.g. GetHistoryOfServiceCalls.
	Op string
	// RowID is the row's identity (the Connect-Row-Id header): a row
	// published again after the stream's duplicate window carries the
	// same one, so a consumer that upserts by it sees each row once.
	RowID string
	// Export is the export that published the row.
	Export string
	// Row is the row's cells by column name. A row too large for a
	// message is a reference to the object that holds it: File returns it.
	Row map[string]any
	// From and To are the period read, [From, To), in the account's zone.
	From, To time.Time
	// Seen is when the read was made, UTC.
	Seen time.Time
	// Delivery is where the message stands in the stream.
	Delivery
}

// Decode reads Row into v, as Result.Decode does.
func (r HistoryRow) Decode(v any) error { return decodeData(r.Row, v, r.Op+" row "+r.RowID) }

// File returns the reference a row too large for a message was replaced
// with (OpenFile reads the row's JSON), and whether it is one.
func (r HistoryRow) File() (FileRef, bool) { return AsFileRef(r.Row) }

// Delivery says where a consumed message stands.
type Delivery struct {
	// Subject is the message's subject, Sequence its stream sequence.
	Subject  string
	Sequence uint64
	// Delivered counts the deliveries of the message, this one included:
	// more than 1 after a handler's error or a crash.
	Delivered uint64
	// Traceparent is the W3C trace context of the span that published
	// the message ("" when none): a handler that continues the trace
	// starts its span as its child (or see WithHandlerContext).
	Traceparent string
	// Header holds the message's headers, for a propagator or the rest.
	Header nats.Header
}

// TraceCarrier reads and writes the trace context of message headers:
// an OpenTelemetry TextMapCarrier (Get, Set, Keys) without the SDK
// depending on OpenTelemetry. It reads "traceparent" as the bridge
// writes it, or "Traceparent" as an HTTP-style carrier writes it.
type TraceCarrier nats.Header

// Get returns the first value of key.
func (c TraceCarrier) Get(key string) string { return contract.TraceCarrier(c).Get(key) }

// Set sets key to value.
func (c TraceCarrier) Set(key, value string) { contract.TraceCarrier(c).Set(key, value) }

// Keys lists the keys.
func (c TraceCarrier) Keys() []string { return contract.TraceCarrier(c).Keys() }

// DeliveryError is a message a consumer could not hand to its handler,
// or whose acknowledgement failed, given to the WithDeliveryErrors
// callback.
type DeliveryError struct {
	// Stream, Subject and Sequence name the message (Sequence is 0 when
	// its metadata could not be read).
	Stream, Subject string
	Sequence        uint64
	// Terminated is set when the message was terminated: the stream does
	// not deliver it again (a payload that cannot be decoded).
	Terminated bool
	// Err is what went wrong.
	Err error
}

// Error returns "connect: <stream> <subject> #<seq>: <err>".
func (e *DeliveryError) Error() string {
	s := fmt.Sprintf("connect: %s %s #%d: %v", e.Stream, e.Subject, e.Sequence, e.Err)
	if e.Terminated {
		s += " (terminated)"
	}
	return s
}

// Unwrap returns Err.
func (e *DeliveryError) Unwrap() error { return e.Err }

// ConsumeOption configures ConsumeChanges and ConsumeHistory.
type ConsumeOption func(*consumeConfig) error

type consumeConfig struct {
	stream, prefix string
	maxInFlight    int
	ackWait        time.Duration
	maxDeliver     int
	backoffMin     time.Duration
	backoffMax     time.Duration
	deliverNew     bool
	onError        func(error)
	handlerCtx     func(ctx context.Context, h nats.Header) context.Context
}

func defaultConsumeConfig(stream, prefix string) consumeConfig {
	return consumeConfig{
		stream: stream, prefix: prefix, maxInFlight: 16, ackWait: 30 * time.Second,
		maxDeliver: -1, backoffMin: time.Second, backoffMax: time.Minute,
	}
}

// WithStream names the stream and its subject prefix when the worker's
// were configured otherwise. Defaults to CONNECT_CHANGES and
// "connect.change." for changes, CONNECT_HISTORY and "connect.history."
// for history rows.
func WithStream(stream, prefix string) ConsumeOption {
	return func(c *consumeConfig) error {
		if stream == "" || strings.ContainsAny(stream, " \t\r\n.*>") {
			return fmt.Errorf("connect: stream %q: want a stream name", stream)
		}
		if prefix == "" || strings.ContainsAny(prefix, " \t\r\n*>") || !strings.HasSuffix(prefix, ".") {
			return fmt.Errorf("connect: subject prefix %q: want a subject prefix ending in '.'", prefix)
		}
		c.stream, c.prefix = stream, prefix
		return nil
	}
}

// WithMaxInFlight bounds the messages handed to handlers at once (and
// the consumer's MaxAckPending): handlers run concurrently, up to n.
// Order within an object holds only with 1. Defaults to 16.
func WithMaxInFlight(n int) ConsumeOption {
	return func(c *consumeConfig) error {
		if n <= 0 || n > 1<<16 {
			return fmt.Errorf("connect: max in flight %d: want 1 to 65536", n)
		}
		c.maxInFlight = n
		return nil
	}
}

// WithAckWait sets how long a handler may run before its message is
// delivered again (the consumer's AckWait). Defaults to 30s.
func WithAckWait(d time.Duration) ConsumeOption {
	return func(c *consumeConfig) error {
		if d < time.Second {
			return fmt.Errorf("connect: ack wait %s: want at least 1s", d)
		}
		c.ackWait = d
		return nil
	}
}

// WithMaxDeliver bounds the deliveries of one message (the consumer's
// MaxDeliver): a message whose handler failed n times is not delivered
// again. Defaults to unbounded.
func WithMaxDeliver(n int) ConsumeOption {
	return func(c *consumeConfig) error {
		if n <= 0 {
			return fmt.Errorf("connect: max deliver %d: want a positive count", n)
		}
		c.maxDeliver = n
		return nil
	}
}

// WithRetryBackoff sets the delay before a message whose handler
// returned an error is delivered again: first, doubling with each
// delivery up to most. Defaults to 1s and 1m.
func WithRetryBackoff(first, most time.Duration) ConsumeOption {
	return func(c *consumeConfig) error {
		if first <= 0 || most < first {
			return fmt.Errorf("connect: retry backoff %s..%s: want 0 < first <= most", first, most)
		}
		c.backoffMin, c.backoffMax = first, most
		return nil
	}
}

// WithDeliverNew makes a consumer created by this call start with the
// messages published from now on, not the stream's first. A consumer
// that exists keeps its position.
func WithDeliverNew() ConsumeOption {
	return func(c *consumeConfig) error {
		c.deliverNew = true
		return nil
	}
}

// WithDeliveryErrors sets a function given each *DeliveryError: a
// payload that cannot be decoded (terminated), an acknowledgement that
// failed. It is called from the consumer's goroutines. Without it they
// are dropped.
func WithDeliveryErrors(fn func(error)) ConsumeOption {
	return func(c *consumeConfig) error {
		c.onError = fn
		return nil
	}
}

// WithHandlerContext sets a function that derives each handler's context
// from the message's headers: the way to continue a trace without the
// SDK depending on a tracing library. With OpenTelemetry:
//
//	connect.WithHandlerContext(func(ctx context.Context, h nats.Header) context.Context {
//		return otel.GetTextMapPropagator().Extract(ctx, connect.TraceCarrier(h))
//	})
//
// (propagation.HeaderCarrier would not do: it looks for "Traceparent",
// and NATS header names are case-sensitive.)
func WithHandlerContext(fn func(ctx context.Context, h nats.Header) context.Context) ConsumeOption {
	return func(c *consumeConfig) error {
		c.handlerCtx = fn
		return nil
	}
}

// ConsumeChanges hands each change event of objects (all objects when
// none) to handler, on the durable consumer name of the change stream,
// created when it does not exist or updated to these settings (its
// position kept). A message is acknowledged when handler returns nil,
// delivered again after a backoff when it returns an error, and
// terminated when its payload cannot be decoded or names another
// object than its subject. It returns nil when ctx ends, after the
// handlers running have returned, or why the consumer could not be set
// up or stopped working.
func (c *Client) ConsumeChanges(ctx context.Context, name string, objects []string, handler func(context.Context, ChangeEvent) error, opts ...ConsumeOption) error {
	cfg := defaultConsumeConfig(contract.ChangeStream, contract.ChangePrefix)
	decode := func(m jetstream.Msg, d Delivery) (func(context.Context) error, error) {
		e, err := contract.DecodeChangeEvent(m.Data())
		if err != nil {
			return nil, err
		}
		if d.Subject != cfg.prefix+e.Object || e.ID == "" {
			return nil, fmt.Errorf("an event of %q (id %d bytes) on subject %s", e.Object, len(e.ID), d.Subject)
		}
		ev := ChangeEvent{Object: e.Object, ID: e.ID, Deleted: e.Deleted, Data: e.Data, Read: e.Read, Seen: e.Seen, Version: e.Version, Delivery: d}
		return func(ctx context.Context) error { return handler(ctx, ev) }, nil
	}
	return c.consume(ctx, &cfg, name, objects, opts, decode)
}

// ConsumeHistory hands each history row of ops (all operations when
// none) to handler, on the durable consumer name of the history stream,
// as ConsumeChanges does for change events.
func (c *Client) ConsumeHistory(ctx context.Context, name string, ops []string, handler func(context.Context, HistoryRow) error, opts ...ConsumeOption) error {
	cfg := defaultConsumeConfig(contract.HistoryStream, contract.HistoryPrefix)
	decode := func(m jetstream.Msg, d Delivery) (func(context.Context) error, error) {
		r, err := contract.DecodeHistoryRow(m.Data())
		if err != nil {
			return nil, err
		}
		if d.Subject != cfg.prefix+r.Op {
			return nil, fmt.Errorf("a row of %q on subject %s", r.Op, d.Subject)
		}
		row := HistoryRow{
			Op: r.Op, RowID: d.Header.Get(contract.HeaderRowID), Export: d.Header.Get(contract.HeaderExport),
			Row: r.Row, From: r.Period.From, To: r.Period.To, Seen: r.Seen, Delivery: d,
		}
		return func(ctx context.Context) error { return handler(ctx, row) }, nil
	}
	return c.consume(ctx, &cfg, name, ops, opts, decode)
}

// decoder reads one message into the call of its handler.
type decoder func(m jetstream.Msg, d Delivery) (func(context.Context) error, error)

// consume runs one consumer: the loop that fetches while fewer than
// maxInFlight handlers run, and a goroutine per message handled.
func (c *Client) consume(ctx context.Context, cfg *consumeConfig, name string, tokens []string, opts []ConsumeOption, decode decoder) error {
	for _, o := range opts {
		if err := o(cfg); err != nil {
			return err
		}
	}
	cons, err := c.durable(ctx, cfg, name, tokens)
	if err != nil || cons == nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.maxInFlight))
	if err != nil {
		return fmt.Errorf("connect: consume %s on %s: %w", name, cfg.stream, err)
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, cfg.maxInFlight)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		m, err := it.Next()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("connect: consume %s on %s: %w", name, cfg.stream, err)
		}
		wg.Go(func() {
			defer func() { <-slots }()
			c.handle(ctx, cfg, m, decode)
		})
	}
}

// durable creates or updates the consumer name of the stream, filtered
// to the subjects of tokens (the whole prefix when there are none).
func (c *Client) durable(ctx context.Context, cfg *consumeConfig, name string, tokens []string) (jetstream.Consumer, error) {
	if name == "" || strings.ContainsAny(name, " \t\r\n.*>/\\") || len(name) > 128 {
		return nil, fmt.Errorf("connect: consumer name %q: want 1 to 128 characters, no spaces, '.', '*', '>' or slashes", name)
	}
	filters := make([]string, 0, len(tokens))
	for _, t := range tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n.*>") {
			return nil, fmt.Errorf("connect: consumer %s: %q is not a subject token", name, t)
		}
		filters = append(filters, cfg.prefix+t)
	}
	if len(filters) == 0 {
		filters = []string{cfg.prefix + ">"}
	}
	cc := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.ackWait,
		MaxDeliver: cfg.maxDeliver, MaxAckPending: cfg.maxInFlight,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if len(filters) == 1 {
		cc.FilterSubject = filters[0]
	} else {
		cc.FilterSubjects = filters
	}
	if cfg.deliverNew {
		if existing, err := c.js.Consumer(ctx, cfg.stream, name); err == nil {
			cc.DeliverPolicy = existing.CachedInfo().Config.DeliverPolicy
		} else {
			cc.DeliverPolicy = jetstream.DeliverNewPolicy
		}
	}
	// The stream is the worker's to create, with its first feed or
	// export: a service started before it waits for it.
	wait := streamWaitInitial
	for {
		cons, err := c.js.CreateOrUpdateConsumer(ctx, cfg.stream, cc)
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("connect: consumer %s on %s: %w", name, cfg.stream, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil // consume returns nil: ctx ended
		case <-time.After(wait):
		}
		wait = min(2*wait, streamWaitMax)
	}
}

// ackTimeout bounds the wait for the server's confirmation of an ack.
const ackTimeout = 5 * time.Second

// How often a consumer looks for a stream that does not exist yet.
const (
	streamWaitInitial = 100 * time.Millisecond
	streamWaitMax     = 5 * time.Second
)

// handle decodes one message, runs its handler and settles it: Ack on
// nil, NakWithDelay on an error, Term when it cannot be decoded.
func (c *Client) handle(ctx context.Context, cfg *consumeConfig, m jetstream.Msg, decode decoder) {
	d := Delivery{Subject: m.Subject(), Header: m.Headers()}
	d.Traceparent = contract.TraceCarrier(d.Header).Get(contract.HeaderTraceparent)
	report := func(err error, term bool) {
		if cfg.onError != nil {
			cfg.onError(&DeliveryError{Stream: cfg.stream, Subject: d.Subject, Sequence: d.Sequence, Terminated: term, Err: err})
		}
	}
	meta, err := m.Metadata()
	if err != nil {
		report(fmt.Errorf("metadata: %w", err), false)
		_ = m.Nak()
		return
	}
	d.Sequence, d.Delivered = meta.Sequence.Stream, meta.NumDelivered
	run, err := decode(m, d)
	if err != nil {
		if terr := m.TermWithReason("connect: undecodable"); terr != nil {
			report(errors.Join(err, fmt.Errorf("term: %w", terr)), true)
			return
		}
		report(err, true)
		return
	}
	hctx := ctx
	if cfg.handlerCtx != nil {
		hctx = cfg.handlerCtx(ctx, d.Header)
	}
	if herr := run(hctx); herr != nil {
		// A handler cut short by the end of ctx failed for no fault of
		// the message: it is delivered again at once, elsewhere.
		delay := time.Duration(0)
		if ctx.Err() == nil {
			delay = retryDelay(d.Delivered, cfg.backoffMin, cfg.backoffMax)
		}
		if err := m.NakWithDelay(delay); err != nil {
			report(fmt.Errorf("nak after the handler's error: %w", err), false)
		}
		return
	}
	// The acknowledgement is confirmed by the server, with a context of
	// its own (ctx may have just ended): a handler's work is acknowledged
	// once it returns, or the failure is reported.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		report(fmt.Errorf("ack: %w", err), false)
	}
}

// retryDelay is the delay before the delivery after the delivered-th:
// first, doubled per delivery, at most most.
func retryDelay(delivered uint64, first, most time.Duration) time.Duration {
	d := first
	for i := uint64(1); i < delivered && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}
