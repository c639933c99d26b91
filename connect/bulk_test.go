package connect_test

import (
	"context"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

// TestBulkTenThousand loads 10,000 adds with at most 32 publishes in
// flight and at most 2,000 commands waiting, and gets 10,000 results, one
// per command, carried in full packets.
func TestBulkTenThousand(t *testing.T) {
	t.Parallel()
	const n, inFlight = 10_000, 32
	b := setup(t, setupOpts{})
	c := b.client(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cmds := func(yield func(connect.Command) bool) {
		for i := range n {
			// One bad command among them: refused locally, still replied to.
			name := connect.Set(fmt.Sprintf("Department %d", i))
			if i == 5000 {
				name = connect.Set(string(make([]rune, 101)))
			}
			if !yield(connect.Command{ID: fmt.Sprintf("bulk-%d", i), Op: ops.DepartmentAdd{Name: name}}) {
				return
			}
		}
	}
	seen := map[string]bool{}
	ok, refused := 0, 0
	sum, err := c.Bulk(ctx, iter.Seq[connect.Command](cmds), func(r connect.Reply) {
		require.False(t, seen[r.ID], "one reply per command: %s", r.ID)
		seen[r.ID] = true
		switch {
		case r.Err == nil && r.Result.OK():
			ok++
		case r.ID == "bulk-5000":
			require.ErrorIs(t, r.Err, connect.ErrInvalidFields)
			refused++
		default:
			t.Errorf("%s: %v", r.ID, r.Err)
		}
	}, connect.WithInFlight(inFlight), connect.WithMaxWaiting(2000))
	require.NoError(t, err)
	require.Len(t, seen, n)
	require.Equal(t, n-1, ok)
	require.Equal(t, 1, refused)
	require.Equal(t, connect.BulkSummary{
		Commands: n, Replies: n, Published: n - 1, Refused: 1,
		PeakInFlight: sum.PeakInFlight, Elapsed: sum.Elapsed,
	}, sum)
	require.LessOrEqual(t, sum.PeakInFlight, inFlight)
	require.Greater(t, sum.PeakInFlight, 1, "publishes overlapped")
	st := b.emu.Stats()
	require.Equal(t, n-1, st.Rows["DepartmentAdd"])
	t.Logf("%d commands in %s (%.0f/s), %d calls, peak %d publishes in flight",
		n, sum.Elapsed.Round(time.Millisecond), float64(n)/sum.Elapsed.Seconds(), st.Calls["DepartmentAdd"], sum.PeakInFlight)
}

// TestBulkCancelled: a Bulk whose context ends returns, says how far it
// got, and leaves no goroutine behind (TestMain checks).
func TestBulkCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{gate: true})
	c := b.client(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmds := func(yield func(connect.Command) bool) {
		for range 100 {
			if !yield(connect.Command{Op: ops.RegionRead{}}) {
				return
			}
		}
	}
	go func() {
		<-b.gate.entered // the first read is at the sandbox: the rest wait behind it
		cancel()
	}()
	sum, err := c.Bulk(ctx, cmds, func(connect.Reply) {}, connect.WithInFlight(4))
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, sum.Replies, 100)
}
