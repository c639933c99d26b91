package connect_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"time"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

// ExampleMirror looks client users up in the mirror the feeds keep,
// without a call to the service: one by id, all of them, and an edit as
// it lands.
func ExampleMirror() {
	nc, stop := feedSandbox()
	defer stop()
	c, err := connect.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := c.Mirror()

	const id = "00000000-0000-4000-8000-000000000001"
	r, err := m.Get(ctx, "ClientUser", id)
	if err != nil {
		log.Fatal(err)
	}
	var u struct{ Name string }
	if err := r.Decode(&u); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Object, r.ID, u.Name, "deleted:", r.Deleted)
	_, err = m.Get(ctx, "ClientUser", "00000000-0000-4000-8000-0000000000ff")
	fmt.Println(errors.Is(err, connect.ErrNotFound))

	var names []string
	for r, err := range m.List(ctx, "ClientUser") {
		if err != nil {
			log.Fatal(err)
		}
		names = append(names, fmt.Sprint(r.Data["Name"]))
	}
	sort.Strings(names)
	fmt.Println(names)

	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	records, err := m.Watch(watch, "ClientUser") // every write from now on
	if err != nil {
		log.Fatal(err)
	}
	updates := make(chan connect.Record, 1)
	go func() {
		for r, err := range records {
			if err == nil && r.Data["Name"] == "Renamed" {
				updates <- r
				return
			}
		}
	}()
	if _, err := c.Do(ctx, ops.ClientUserEdit{ClientUserID: id, Name: "Renamed", Password: "secret1", Phone: "+7 900 000-00-01", EMail: "u1@example.com"}); err != nil {
		log.Fatal(err)
	}
	select {
	case r := <-updates:
		fmt.Println("watched:", r.ID, r.Data["Name"])
	case <-ctx.Done():
		log.Fatal("no update")
	}
	// Output:
	// ClientUser 00000000-0000-4000-8000-000000000001 User 1 deleted: false
	// true
	// [User 1 User 2]
	// watched: 00000000-0000-4000-8000-000000000001 Renamed
}
