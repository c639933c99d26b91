package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/feed"
)

// maxEvents bounds what WaitChanges keeps: the demo's stream holds a few
// thousand events; more means it is not the demo's.
const maxEvents = 100_000

// EditedUser is the user the sample's first edit (demo-edit-1) changes,
// and EditedName the name it gives: the change feed must report it.
var (
	EditedUser = UserID(1)
	EditedName = edit("demo-edit-1", 1, 0).Fields["Name"].(string)
)

// WaitChanges reads the change stream from its start until done holds
// for the events read so far, or ctx ends (then it returns what it read,
// and ctx's error).
func WaitChanges(ctx context.Context, js jetstream.JetStream, done func([]feed.Event) bool) ([]feed.Event, error) {
	cons, err := js.OrderedConsumer(ctx, feed.ChangeStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("demo: changes: %w", err)
	}
	var events []feed.Event
	for !done(events) {
		if err := ctx.Err(); err != nil {
			return events, err
		}
		if len(events) >= maxEvents {
			return events, fmt.Errorf("demo: changes: more than %d events", maxEvents)
		}
		// A short fetch: when nothing new came, look at ctx again.
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			return events, fmt.Errorf("demo: changes: %w", err)
		}
		for m := range batch.Messages() {
			e, err := feed.DecodeEvent(m.Data())
			if err != nil {
				return events, fmt.Errorf("demo: changes: %s: %w", m.Subject(), err)
			}
			events = append(events, e)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return events, fmt.Errorf("demo: changes: %w", err)
		}
	}
	return events, nil
}

// SawEdit reports whether events hold the state the sample's first edit
// made.
func SawEdit(events []feed.Event) bool {
	return slices.ContainsFunc(events, func(e feed.Event) bool {
		return e.Object == "ClientUser" && e.ID == EditedUser && e.Data["Name"] == EditedName
	})
}

// Shown reports whether events hold what `make run` shows: the sample's
// first edit, and a change made in the sandbox's cabinet.
func Shown(events []feed.Event) bool {
	return SawEdit(events) && cabinetChange(events, DefaultPlan.SeedUsers()) != nil
}

// cabinetChange returns an event the sandbox's churn made: a state, read
// after its read's first poll (the backfill), of an object the sample
// does not edit; a deletion when there is one; nil when there is none.
func cabinetChange(events []feed.Event, demoUsers int) *feed.Event {
	backfill := map[string]time.Time{} // read → seen of its first poll
	var found *feed.Event
	for i, e := range events {
		first, ok := backfill[e.Read]
		if !ok {
			backfill[e.Read] = e.Seen
			continue
		}
		if !e.Seen.After(first) || e.Object == "ClientUser" && isDemoUser(e.ID, demoUsers) {
			continue
		}
		if found == nil || e.Deleted && !found.Deleted {
			found = &events[i]
		}
	}
	return found
}

// isDemoUser reports whether id is one of the users the sample edits.
func isDemoUser(id string, demoUsers int) bool {
	for n := 1; n <= demoUsers; n++ {
		if UserID(n) == id {
			return true
		}
	}
	return false
}

// Changes sums up the change events of a demo run.
type Changes struct {
	// Events is how many there are; Objects how many objects they are of.
	Events, Objects int
	// Later are the events after an object's first (edits, deletes).
	Later int
	// Deleted are the events of deletions.
	Deleted int
	// Edited are the events of EditedUser, in order.
	Edited []feed.Event
	// Cabinet is an event the sandbox's churn made, not the demo (nil
	// when there is none).
	Cabinet *feed.Event
}

// SummarizeChanges counts events; demoUsers is how many users the sample
// edits (UserID 1 to demoUsers).
func SummarizeChanges(events []feed.Event, demoUsers int) Changes {
	c := Changes{Events: len(events), Cabinet: cabinetChange(events, demoUsers)}
	seen := map[string]bool{}
	for _, e := range events {
		key := e.Object + "\x00" + e.ID
		if seen[key] {
			c.Later++
		}
		seen[key] = true
		if e.Deleted {
			c.Deleted++
		}
		if e.Object == "ClientUser" && e.ID == EditedUser {
			c.Edited = append(c.Edited, e)
		}
	}
	c.Objects = len(seen)
	return c
}

// Write prints the summary for a newcomer.
func (c Changes) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d events of %d objects: %d first states (the backfill, and objects created since), %d later states, %d of them deletions\n",
		c.Events, c.Objects, c.Objects, c.Later, c.Deleted)
	fmt.Fprintf(&b, "the events of client user %s, which the sample's first edit (demo-edit-1) renamed to %q:\n", EditedUser, EditedName)
	for _, e := range c.Edited {
		note := ""
		if e.Data["Name"] == EditedName {
			note = "  <- the edit the demo made"
		}
		fmt.Fprintf(&b, "  seen %s UTC  version %.12s  Name %q%s\n", e.Seen.Format(time.TimeOnly), e.Version, e.Data["Name"], note)
	}
	if e := c.Cabinet; e != nil {
		state := "changed"
		if e.Deleted {
			state = "deleted"
		}
		name, _ := e.Data["Name"].(string)
		fmt.Fprintf(&b, "a change made in the sandbox's web cabinet (--churn), not by the demo: %s %s %q %s (seen %s UTC)\n",
			e.Object, e.ID, name, state, e.Seen.Format(time.TimeOnly))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
