package connect_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// ExampleClient_Do edits a client user and waits for the result.
func ExampleClient_Do() {
	nc, stop := sandbox() // a service connects to its NATS instead
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.Do(ctx, ops.ClientUserEdit{
		ClientUserID: "00000000-0000-4000-8000-000000000001",
		Name:         "Анна",
		Surname:      connect.Set("Иванова"),
		Password:     "secret1",
		Phone:        "+7 900 000-00-01",
		EMail:        "anna@example.com",
	}, connect.WithID("profile-update-1")) // an id of the business event makes a retry safe
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ID, res.Code, "row", res.Row, "of", res.Rows)
	// Output:
	// profile-update-1 SUCCESS row 1 of 1
}

// ExampleClient_Submit publishes two commands at once and waits for both;
// a read's rows decode into structs.
func ExampleClient_Submit() {
	nc, stop := sandbox()
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	add, err := c.Submit(ctx, ops.DepartmentAdd{Name: connect.Set("Support")})
	if err != nil {
		log.Fatal(err)
	}
	read, err := c.Submit(ctx, ops.RegionRead{})
	if err != nil {
		log.Fatal(err)
	}

	res, err := add.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var added struct{ DepartmentID string }
	if err := res.Decode(&added); err != nil {
		log.Fatal(err)
	}
	fmt.Println("new department id of", len(added.DepartmentID), "characters")

	res, err = read.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var regions []struct{ RegionID, RegionName string }
	if err := res.Decode(&regions); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(regions) > 0, "regions read")
	// Output:
	// new department id of 36 characters
	// true regions read
}

// ExampleClient_Bulk loads 1,000 commands with at most 16 publishes in
// flight and counts the results as they come.
func ExampleClient_Bulk() {
	nc, stop := sandbox()
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	cmds := func(yield func(connect.Command) bool) {
		for i := range 1000 {
			cmd := connect.Command{ID: fmt.Sprintf("dept-%d", i), Op: ops.DepartmentAdd{Name: connect.Set(fmt.Sprintf("Team %d", i))}}
			if !yield(cmd) {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	codes := map[string]int{}
	sum, err := c.Bulk(ctx, cmds, func(r connect.Reply) {
		codes[r.Result.Code]++
	}, connect.WithInFlight(16))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.Replies, "replies:", codes, "packets of up to 100; at most", 16, "in flight:", sum.PeakInFlight <= 16)
	// Output:
	// 1000 replies: map[SUCCESS:1000] packets of up to 100; at most 16 in flight: true
}

// ExampleResultError branches on what went wrong: bad fields (refused by
// the client before publishing, each field with its problem) and a code
// of the service.
func ExampleResultError() {
	nc, stop := sandbox()
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err = c.Do(ctx, ops.ClientUserEdit{ClientUserID: "42", Name: "a name much too long to fit"})
	var re *connect.ResultError
	if errors.Is(err, connect.ErrInvalidFields) && errors.As(err, &re) {
		fmt.Println(re.Code, "sent:", !re.Local)
		for _, f := range re.Fields {
			fmt.Printf("  %s: %s\n", f.Field, f.Problem)
		}
	}

	_, err = c.Do(ctx, ops.ClientUserEdit{
		ClientUserID: "00000000-0000-4000-8000-0000000000ff", Name: "Nobody", Password: "x", Phone: "1", EMail: "n@example.com",
	})
	if errors.Is(err, connect.ErrService) && errors.As(err, &re) {
		fmt.Println(re.Code)
	}
	// Output:
	// INVALID_FIELDS sent: false
	//   ClientUserID: not a UUID
	//   EMail: required
	//   Name: longer than 20 characters (got 27)
	//   Password: required
	//   Phone: required
	// OBJECT_NOT_FOUND
}

// sandbox starts what `make run` starts, in the process: an embedded
// JetStream server, the sandbox service (with one client user) and a
// worker; it returns a connection to the server and a function that
// stops them all.
func sandbox() (*nats.Conn, func()) {
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
	emu.SeedClientUsers(1)
	hs := httptest.NewServer(emu)
	stops = append(stops, hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	must(err)
	lim, err := quota.NewLocal(quota.Config{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Limits: quota.Limits{Catalogue: catalog.HourlyLimits}})
	must(err)
	wnc, err := nats.Connect(srv.ClientURL())
	must(err)
	stops = append(stops, wnc.Close)
	w, err := worker.New(worker.Config{Conn: wnc, API: api, Limiter: lim,
		Defaults: worker.OpSettings{MaxWait: worker.Duration(20 * time.Millisecond)}, FetchWait: 200 * time.Millisecond})
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	stops = append(stops, func() { cancel(); <-stopped })
	deadline := time.Now().Add(30 * time.Second)
	for w.Ready() != nil {
		if time.Now().After(deadline) {
			must(fmt.Errorf("worker not ready: %w", w.Ready()))
		}
		<-time.After(10 * time.Millisecond) // polling readiness: nothing to wait on
	}
	nc, err := nats.Connect(srv.ClientURL())
	must(err)
	stops = append(stops, nc.Close)
	return nc, stop
}
