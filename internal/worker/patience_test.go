package worker

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPatience(t *testing.T) {
	cases := []struct {
		name      string
		demand    float64
		remaining int
		fill      int
		left      time.Duration
		want      int
		until     time.Duration
	}{
		{"plenty of calls: flush on max-wait", 30, 200, 3, time.Hour, 0, 0},
		{"the calls left cannot carry the demand at this fill: wait for full packets", 5000, 40, 3, time.Hour, 100, time.Hour - 3*time.Second},
		{"just enough", 120, 40, 3, time.Hour, 0, 0},
		{"no calls left at all", 10, 0, 3, time.Hour, 100, time.Hour - 3*time.Second},
		{"the window ends soon: spend what is left", 5000, 40, 3, 2 * time.Second, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, until := patience(tc.demand, tc.remaining, tc.fill, 100, tc.left, time.Second)
			require.Equal(t, tc.want, n)
			require.Equal(t, tc.until, until)
		})
	}
}

func TestRateMeter(t *testing.T) {
	var m rateMeter
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	require.Zero(t, m.rate(t0))
	// 10 commands a second for five minutes: the estimate settles at 10.
	for i := range 3000 {
		m.add(t0.Add(time.Duration(i)*100*time.Millisecond), 1)
	}
	end := t0.Add(300 * time.Second)
	require.InDelta(t, 10, m.rate(end), 0.5)
	// Then silence: it decays by e every rateWindow.
	require.InDelta(t, m.rate(end)/math.E, m.rate(end.Add(rateWindow)), 0.01)
}
