package connect_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// ExampleClient_ConsumeChanges hands each change of a client user to a
// handler, on a durable consumer: a service that stops and starts again
// goes on where it was. Returning nil acknowledges the event; an error
// has it delivered again later.
func ExampleClient_ConsumeChanges() {
	nc, stop := feedSandbox() // a service connects to its NATS instead
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var seen atomic.Int32
	err = c.ConsumeChanges(ctx, "crm-sync", []string{"ClientUser"}, func(_ context.Context, e connect.ChangeEvent) error {
		var u struct{ Name, EMail string }
		if err := e.Decode(&u); err != nil {
			return err
		}
		// Handlers run concurrently (WithMaxInFlight): the two users
		// may come in either order.
		if seen.Add(1) == 2 {
			cancel() // a service consumes until it stops
		}
		return nil
	}, connect.WithDeliveryErrors(func(err error) { log.Print(err) }))
	fmt.Println("consumed", seen.Load(), "changes, returned", err)
	// Output:
	// consumed 2 changes, returned <nil>
}

// ExampleWithHandlerContext continues each event's trace in its
// handler. With OpenTelemetry the function would be
// otel.GetTextMapPropagator().Extract(ctx, connect.TraceCarrier(h)).
func ExampleWithHandlerContext() {
	nc, stop := feedSandbox()
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	type traceKey struct{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = c.ConsumeChanges(ctx, "traced", nil, func(ctx context.Context, e connect.ChangeEvent) error {
		tp, _ := ctx.Value(traceKey{}).(string)
		fmt.Println("the handler's context has the trace:", tp == e.Traceparent && tp != "")
		cancel()
		return nil
	}, connect.WithMaxInFlight(1), connect.WithHandlerContext(func(ctx context.Context, h nats.Header) context.Context {
		return context.WithValue(ctx, traceKey{}, connect.TraceCarrier(h).Get("traceparent"))
	}))
	// Output:
	// the handler's context has the trace: true
}

// feedSandbox starts what `make run` starts with a feed on, in the
// process: an embedded JetStream server, the sandbox (two client users),
// a worker with the files bucket and the feed of ClientUserRead polling
// every 100ms, traced; it returns once the feed's backfill is in the mirror,
// with a connection to the server and a function that stops it all.
func feedSandbox() (*nats.Conn, func()) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	must := func(err error) {
		if err != nil {
			stop()
			log.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "connect-example-")
	must(err)
	stops = append(stops, func() { _ = os.RemoveAll(dir) })
	srv, err := embednats.Start(embednats.Config{Port: -1, StoreDir: dir})
	must(err)
	stops = append(stops, func() { srv.Shutdown(); srv.WaitForShutdown() })
	emu, err := emulator.New(emulator.Config{Seed: 1})
	must(err)
	emu.SeedClientUsers(2)
	hs := httptest.NewServer(emu)
	stops = append(stops, hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	must(err)
	stops = append(stops, api.Close)
	lim, err := quota.NewLocal(quota.Config{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Limits: quota.Limits{Catalogue: catalog.HourlyLimits}})
	must(err)
	wnc, err := nats.Connect(srv.ClientURL())
	must(err)
	stops = append(stops, wnc.Close)
	wjs, err := jetstream.New(wnc)
	must(err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := files.Open(ctx, files.Config{JetStream: wjs})
	must(err)
	w, err := worker.New(worker.Config{Conn: wnc, API: api, Limiter: lim, Files: store,
		Defaults: worker.OpSettings{MaxWait: worker.Duration(20 * time.Millisecond)}, FetchWait: 200 * time.Millisecond})
	must(err)
	f, err := feed.New(feed.Config{Conn: wnc, API: api, Limiter: lim,
		Feeds:  []feed.Feed{{Read: "ClientUserRead", Interval: feed.Duration(100 * time.Millisecond), Overlap: feed.Duration(2 * time.Second)}},
		Tracer: sdktrace.NewTracerProvider()})
	must(err)
	run, halt := context.WithCancel(context.Background())
	stopped := make(chan error, 2)
	go func() { stopped <- w.Run(run) }()
	go func() { stopped <- f.Run(run) }()
	stops = append(stops, func() { halt(); <-stopped; <-stopped })
	nc, err := nats.Connect(srv.ClientURL())
	must(err)
	stops = append(stops, nc.Close)
	// Ready once both users are in the mirror (polling: nothing to wait on).
	js, err := jetstream.New(nc)
	must(err)
	for {
		if kv, err := js.KeyValue(ctx, feed.MirrorBucket); err == nil {
			if st, err := kv.Status(ctx); err == nil && st.Values() == 2 && w.Ready() == nil {
				return nc, stop
			}
		}
		select {
		case <-ctx.Done():
			must(fmt.Errorf("the feed's backfill did not come: %w", ctx.Err()))
		case <-time.After(10 * time.Millisecond):
		}
	}
}
