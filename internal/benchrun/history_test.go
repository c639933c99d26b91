package benchrun

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHistorySandboxSizesAWeek: line 15's sandbox holds about the rows
// asked for in the week it returns, and the week is over by the horizon
// of an export with the default settle, so that it is read at once as one
// chunk.
func TestHistorySandboxSizesAWeek(t *testing.T) {
	t.Parallel()
	const rows = 20_000
	emu, since, n, err := historySandbox(rows)
	require.NoError(t, err)
	require.InDelta(t, rows, n, rows/20, "within 5%% of the rows asked for")
	got, err := emu.History(historyRead, since, since.Add(historyWeek))
	require.NoError(t, err)
	require.Len(t, got, n, "the count is the sandbox's")
	require.True(t, since.Add(historyWeek).Before(time.Now().Add(-historySettle)), "the week is before the horizon")
	require.Equal(t, since, since.Truncate(time.Second), "a period is whole seconds")
}
