package worker

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
)

// maxWait is the lanes' max-wait in these tests: the default.
const maxWait = 2 * time.Second

// TestLaneBurstGoesOutWithinMaxWait: 250 commands at once, with 220 of 225
// calls left in the window (the real limits, less the reserve): every
// packet goes within max-wait, none is held back for the rest of the hour.
func TestLaneBurstGoesOutWithinMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := startLane(t, laneOpts{limits: map[string]int{"ClientUserEdit": 225}, apiLatency: 50 * time.Millisecond})
		defer lw.stop()
		users := lw.emu.SeedClientUsers(255)
		// Five calls spent already: 220 left.
		for i := range 5 {
			lw.publish(fmt.Sprint("warm-", i), edit(users[250+i], i))
			lw.waitResults(i+1, time.Minute)
		}
		start := time.Now()
		for i := range 250 {
			lw.publish(fmt.Sprint("burst-", i), edit(users[i], i))
		}
		got := lw.waitResults(255, time.Hour)
		elapsed := time.Since(start)
		for i := range 250 {
			require.Equal(t, contract.CodeSuccess, got[fmt.Sprint("burst-", i)].Code)
		}
		require.LessOrEqual(t, elapsed, maxWait+3*50*time.Millisecond+100*time.Millisecond, "the burst's tail waited %s", elapsed)
	})
}

// TestLaneHotObjectsCollapse: 2,000 edits of 20 objects, 100 each, all
// with the same fields, go out in at most 3 calls, and every object ends
// with its last edit.
func TestLaneHotObjectsCollapse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := startLane(t, laneOpts{limits: map[string]int{"ClientUserEdit": 225}})
		defer lw.stop()
		users := lw.emu.SeedClientUsers(20)
		for n := range 100 {
			for u, user := range users {
				lw.publish(fmt.Sprintf("e-%d-%d", u, n), edit(user, n))
			}
		}
		got := lw.waitResults(2000, time.Hour)
		collapsed := 0
		for id, r := range got {
			require.Equal(t, contract.CodeSuccess, r.Code, id)
			if r.CollapsedInto != "" {
				collapsed++
			}
		}
		require.Positive(t, collapsed)
		require.LessOrEqual(t, lw.emu.Stats().Calls["ClientUserEdit"], 3)
		for _, user := range users {
			o, ok := lw.emu.Get("ClientUser", user)
			require.True(t, ok)
			require.Equal(t, "Имя99", o.Fields["Name"].Text, "the object ends on its last edit")
		}
	})
}

// TestLaneDifferentShapesKeepTheirOrder: edits of one object with
// different fields are never merged and are applied in publish order.
func TestLaneDifferentShapesKeepTheirOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := startLane(t, laneOpts{})
		defer lw.stop()
		user := lw.emu.SeedClientUsers(1)[0]
		long := edit(user, 1)
		long["Surname"] = "Long"
		short := edit(user, 2) // without Surname: another shape
		lw.publish("a", long)
		lw.publish("b", short)
		last := edit(user, 3)
		last["Surname"] = "Last"
		lw.publish("c", last)
		got := lw.waitResults(3, time.Hour)
		for _, id := range []string{"a", "b", "c"} {
			require.Equal(t, contract.CodeSuccess, got[id].Code, id)
		}
		require.Empty(t, got["a"].CollapsedInto)
		require.Empty(t, got["b"].CollapsedInto)
		require.Empty(t, got["c"].CollapsedInto, "a and c have the same fields, but b comes between them")
		o, _ := lw.emu.Get("ClientUser", user)
		require.Equal(t, "Имя3", o.Fields["Name"].Text)
		require.Equal(t, "Last", o.Fields["Surname"].Text)
		require.Equal(t, 3, o.Edits, "three rows, one after another")
	})
}

// TestLaneCollapsedRowThatFailsIsRetriedOneByOne: edits of an object the
// service does not know collapse into one row, which fails; then each is
// sent alone, for its own verdict.
func TestLaneCollapsedRowThatFailsIsRetriedOneByOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := startLane(t, laneOpts{})
		defer lw.stop()
		ghost := "00000000-0000-4000-8000-00000000dead"
		for n := range 3 {
			lw.publish(fmt.Sprint("g-", n), edit(ghost, n))
		}
		got := lw.waitResults(3, time.Hour)
		for n := range 3 {
			r := got[fmt.Sprint("g-", n)]
			require.NotEqual(t, contract.CodeSuccess, r.Code)
			require.Empty(t, r.CollapsedInto, "each got its own verdict")
		}
		require.Equal(t, 4, lw.emu.Stats().Calls["ClientUserEdit"], "the collapsed row, then each alone")
	})
}

// TestLaneScarceBacklogSendsFullPackets: a backlog far larger than the
// window's calls can carry goes out in full packets only.
func TestLaneScarceBacklogSendsFullPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := startLane(t, laneOpts{limits: map[string]int{"ClientUserEdit": 3}, worker: func(c *Config) {
			c.Defaults.MaxPending = 250
		}})
		defer lw.stop()
		users := lw.emu.SeedClientUsers(1000)
		for i, u := range users {
			lw.publish(fmt.Sprint("s-", i), edit(u, i))
		}
		// Three calls in the first window: 300 commands, in full packets.
		got := lw.waitResults(300, 59*time.Minute)
		require.Len(t, got, 300)
		for _, r := range got {
			require.Equal(t, 100, r.Rows, "full packets only")
		}
	})
}

// TestLaneNeverHoldsPastMaxHold: a steady trickle of 12 commands a
// minute against 10 calls an hour. The first window's calls go early
// (nothing is known of the arrivals yet), the rest of that window queues;
// the second window opens with full packets, and then, with calls left
// but far fewer than the trickle would need, the rule holds each partial
// packet back — for max-hold at the most.
func TestLaneNeverHoldsPastMaxHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxHold = time.Minute
		lw := startLane(t, laneOpts{limits: map[string]int{"ClientUserEdit": 10}, worker: func(c *Config) {
			c.Defaults.MaxHold = Duration(maxHold)
		}})
		defer lw.stop()
		users := lw.emu.SeedClientUsers(1500)
		published := map[string]time.Time{}
		start := time.Now()
		secondWindow := start.Truncate(time.Hour).Add(time.Hour)
		for i := 0; time.Now().Before(secondWindow.Add(40 * time.Minute)); i++ {
			id := fmt.Sprint("t-", i)
			lw.publish(id, edit(users[i], i))
			published[id] = time.Now()
			time.Sleep(5 * time.Second) // the trickle's pace, in simulated time
		}
		got := lw.sink.results()
		held := time.Duration(0)
		for id, r := range got {
			at := published[id]
			if at.Before(secondWindow) || r.Rows == 100 {
				continue // the first window, and the second's full packets
			}
			wait := r.At.Sub(at)
			require.LessOrEqual(t, wait, maxWait+maxHold+5*time.Second, "%s waited %s with calls left", id, wait)
			held = max(held, wait)
		}
		require.Greater(t, held, maxHold/2, "the rule held partial packets back")
		require.LessOrEqual(t, lw.emu.Stats().Calls["ClientUserEdit"], 20)
	})
}

// TestLaneScarceTrickleWaitsForFullPackets: two calls a window of 6 s and
// a steady trickle of 50 commands a second for 4 s. Sending on max-wait
// would spend each call on a handful of commands; the lane's first call
// goes at max-wait (nothing is known of the quota yet), the second waits
// for a full packet, the rest go in the next window: 3 calls, where
// sending on max-wait would need four.
func TestLaneScarceTrickleWaitsForFullPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const win = 6 * time.Second
		lw := startLane(t, laneOpts{window: win, limits: map[string]int{"ClientUserEdit": 2}, worker: func(c *Config) {
			c.Defaults.MaxWait = Duration(100 * time.Millisecond)
		}})
		defer lw.stop()
		users := lw.emu.SeedClientUsers(200)
		time.Sleep(300 * time.Millisecond) // just after a window opened
		for i, u := range users {
			lw.publish(fmt.Sprint("e", i), edit(u, i))
			time.Sleep(20 * time.Millisecond) // the trickle's pace
		}
		got := lw.waitResults(200, time.Minute)
		for id, r := range got {
			require.Equal(t, contract.CodeSuccess, r.Code, id)
		}
		st := lw.emu.Stats()
		require.Zero(t, st.OutOfLimit["ClientUserEdit"])
		require.LessOrEqual(t, st.Calls["ClientUserEdit"], 3)
	})
}

// TestLaneEmulatorDefaults checks the harness: one command, one call.
func TestLaneEmulatorDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := startLane(t, laneOpts{emu: emulator.Config{}})
		defer lw.stop()
		user := lw.emu.SeedClientUsers(1)[0]
		lw.publish("one", edit(user, 1))
		got := lw.waitResults(1, time.Minute)
		require.Equal(t, contract.CodeSuccess, got["one"].Code)
		require.Equal(t, 1, lw.emu.Stats().Calls["ClientUserEdit"])
	})
}
