package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPatience(t *testing.T) {
	cases := []struct {
		name      string
		backlog   uint64
		remaining int
		fill      int
		left      time.Duration
		want      int
	}{
		{"plenty of calls: flush on max-wait", 30, 200, 3, time.Hour, 0},
		{"the calls left cannot carry the backlog at this fill: wait for full packets", 5000, 40, 3, time.Hour, 100},
		{"just enough", 120, 40, 3, time.Hour, 0},
		{"no calls left at all", 10, 0, 3, time.Hour, 100},
		{"the window ends soon: spend what is left", 5000, 40, 3, 2 * time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, patience(tc.backlog, tc.remaining, tc.fill, 100, tc.left, time.Second))
		})
	}
}
