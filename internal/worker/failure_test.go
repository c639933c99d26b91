package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// failing sets a worker up for failure tests: quick backoff, few attempts.
func failing(attempts int) func(*worker.Config) {
	return func(c *worker.Config) {
		c.BackoffInitial, c.BackoffMax = time.Millisecond, 5*time.Millisecond
		c.Defaults.MaxAttempts = attempts
		c.Defaults.CallTimeout = worker.Duration(5 * time.Second)
		// Long enough that every command a test publishes (with a wait
		// for each acknowledgement, on a loaded machine) joins one packet.
		c.Defaults.MaxWait = worker.Duration(time.Second)
	}
}

func addFields(n int) map[string]any {
	return map[string]any{"ClientID": emulator.SeedClientID, "Name": fmt.Sprintf("Новый%d", n), "EMail": fmt.Sprintf("new%d@example.com", n)}
}

func codes(got map[string][]contract.Result) map[string]int {
	out := map[string]int{}
	for _, rs := range got {
		out[rs[0].Code]++
	}
	return out
}

func TestInjectedServerErrorsExhaustRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{FailRate: 1}, worker: failing(3)})
	users := b.emu.SeedClientUsers(20)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("e", i), inbox, userFields(u, i))
	}
	got := col.Wait(t, len(users), time.Minute)
	require.Equal(t, map[string]int{contract.CodeTransportError: len(users)}, codes(got))
	for _, rs := range got {
		require.Len(t, rs, 1)
		require.Equal(t, 3, rs[0].Attempts)
		require.Contains(t, rs[0].Error, "HTTP 500")
	}
	st := b.emu.Stats()
	require.Equal(t, 3, st.FailedInjected, "one packet, three attempts")
	require.Zero(t, st.Rows["ClientUserEdit"], "nothing was applied")
	require.Len(t, streamMessages(t, b.js, contract.DLQStream), len(users), "retries exhausted: dead letters")
}

func TestCutConnections(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{DropRate: 1}, worker: failing(3)})
	users := b.emu.SeedClientUsers(10)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("edit", i), inbox, userFields(u, i))
	}
	for i := range 10 {
		publish(t, b.js, "ClientUserAdd", fmt.Sprint("add", i), inbox, addFields(i))
	}
	got := col.Wait(t, 20, time.Minute)
	edits, adds := map[string][]contract.Result{}, map[string][]contract.Result{}
	for id, rs := range got {
		if rs[0].Op == "ClientUserEdit" {
			edits[id] = rs
		} else {
			adds[id] = rs
		}
	}
	// An edit is safe to repeat: retried until attempts run out, applied
	// every time.
	require.Equal(t, map[string]int{contract.CodeTransportError: 10}, codes(edits))
	for _, u := range users {
		obj, _ := b.emu.Get("ClientUser", u)
		require.Equal(t, 3, obj.Edits)
	}
	// An add is not: one call, then UNKNOWN_OUTCOME (it was in fact applied).
	require.Equal(t, map[string]int{contract.CodeUnknownOutcome: 10}, codes(adds))
	for _, rs := range adds {
		require.Equal(t, 1, rs[0].Attempts)
	}
	require.Len(t, b.emu.Applied("ClientUserAdd"), 10, "each add applied exactly once")
	require.Equal(t, 3+1, b.emu.Stats().Dropped)
}

// TestRandomFailures mixes injected 500s and cut connections and checks
// that the outcome of every command follows the rules: edits all succeed
// in the end; adds succeed or end UNKNOWN_OUTCOME, and no add is applied
// twice.
func TestRandomFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{FailRate: 0.25, DropRate: 0.25, Seed: 7}, worker: func(c *worker.Config) {
		failing(40)(c)
		// Small packets: many calls, so that the rates show.
		c.Ops = map[string]worker.OpSettings{"ClientUserAdd": {MaxRows: 10}, "ClientUserEdit": {MaxRows: 10}}
	}})
	users := b.emu.SeedClientUsers(300)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("edit", i), inbox, userFields(u, i))
	}
	const adds = 300
	for i := range adds {
		publish(t, b.js, "ClientUserAdd", fmt.Sprint("add", i), inbox, addFields(i))
	}
	got := col.Wait(t, len(users)+adds, 2*time.Minute)
	editCodes, addCodes := map[string]int{}, map[string]int{}
	for _, rs := range got {
		require.Len(t, rs, 1)
		if rs[0].Op == "ClientUserEdit" {
			editCodes[rs[0].Code]++
		} else {
			addCodes[rs[0].Code]++
		}
	}
	require.Equal(t, map[string]int{"SUCCESS": len(users)}, editCodes)
	require.Equal(t, adds, addCodes["SUCCESS"]+addCodes[contract.CodeUnknownOutcome], "adds: %v", addCodes)
	require.Positive(t, addCodes[contract.CodeUnknownOutcome], "with a quarter of calls cut, some adds are unknown")
	// An HTTP 500 without a SOAP fault leaves an add's outcome unknown too
	// (a server may fail after it applied the packet), so it is not
	// repeated: the sandbox's injected 500s come before it applies
	// anything, so some unknown adds were not applied.
	applied := len(b.emu.Applied("ClientUserAdd"))
	require.GreaterOrEqual(t, applied, addCodes["SUCCESS"], "every add that succeeded was applied")
	require.LessOrEqual(t, applied, addCodes["SUCCESS"]+addCodes[contract.CodeUnknownOutcome], "no add applied twice")
	st := b.emu.Stats()
	require.Positive(t, st.FailedInjected)
	require.Positive(t, st.Dropped)
}
