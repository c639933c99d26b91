package export

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdentity(t *testing.T) {
	t.Parallel()
	row := func(id any, text string) map[string]any {
		return map[string]any{"ServiceCallID": id, "Start": "2026-03-10T12:00:00", "Text": text}
	}
	t.Run("the id column", func(t *testing.T) {
		ids := newIdentity("ServiceCallID")
		id, byColumn, err := ids.of(row("c-1", "a"))
		require.NoError(t, err)
		require.True(t, byColumn)
		require.Equal(t, "c-1", id)
		require.Equal(t, "GetHistoryOfServiceCalls.c-1", MsgID("GetHistoryOfServiceCalls", id))
	})
	t.Run("a hash without one, the same for the same row", func(t *testing.T) {
		a, b := newIdentity(""), newIdentity("")
		x, byColumn, err := a.of(row("c-1", "a"))
		require.NoError(t, err)
		require.False(t, byColumn)
		require.Len(t, x, 32)
		y, _, _ := b.of(row("c-1", "a"))
		require.Equal(t, x, y, "another answer, the same row: the same identity")
		z, _, _ := b.of(row("c-1", "b"))
		require.NotEqual(t, x, z)
	})
	t.Run("identical rows of one answer are numbered", func(t *testing.T) {
		ids := newIdentity("")
		first, _, _ := ids.of(row(nil, "click"))
		second, _, _ := ids.of(row(nil, "click"))
		third, _, _ := ids.of(row(nil, "click"))
		require.Equal(t, first+".2", second)
		require.Equal(t, first+".3", third)
	})
	for _, bad := range []any{"", "two\nlines", "with space", strings.Repeat("x", 129), "\xff\xfe", 42.0, nil} {
		t.Run("a hostile id is replaced by the hash", func(t *testing.T) {
			ids := newIdentity("ServiceCallID")
			id, byColumn, err := ids.of(row(bad, "a"))
			require.NoError(t, err)
			require.False(t, byColumn, "%q", bad)
			require.Len(t, id, 32)
		})
	}
}
