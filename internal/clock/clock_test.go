package clock_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/clock"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRealIsSimulatedInABubble shows what the package is for: a loop that
// waits on Real for an hour finishes at once in a synctest bubble, and the
// time it sees has moved by exactly the hour.
func TestRealIsSimulatedInABubble(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		var c clock.Clock = clock.Real{}
		start := c.Now()
		tm := c.NewTimer(time.Hour)
		fired := <-tm.C()
		require.Equal(t, time.Hour, fired.Sub(start), "fired exactly an hour later, in simulated time")
		require.Equal(t, time.Hour, c.Now().Sub(start))
		require.False(t, tm.Stop(), "a fired timer is not stopped")
	})
	require.Less(t, time.Since(wall), 10*time.Second, "the hour took no real time")
}

func TestTimer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, c clock.Clock, start time.Time)
	}{
		{"stop prevents the fire", func(t *testing.T, c clock.Clock, start time.Time) {
			tm := c.NewTimer(time.Minute)
			require.True(t, tm.Stop())
			time.Sleep(2 * time.Minute)
			select {
			case v := <-tm.C():
				t.Fatalf("a stopped timer fired at %v", v)
			default:
			}
		}},
		{"reset moves the fire", func(t *testing.T, c clock.Clock, start time.Time) {
			tm := c.NewTimer(time.Minute)
			time.Sleep(30 * time.Second)
			require.True(t, tm.Reset(time.Minute), "the timer was active")
			fired := <-tm.C()
			require.Equal(t, 90*time.Second, fired.Sub(start))
		}},
		{"reset after a fire arms it again", func(t *testing.T, c clock.Clock, start time.Time) {
			tm := c.NewTimer(time.Second)
			<-tm.C()
			require.False(t, tm.Reset(time.Second))
			fired := <-tm.C()
			require.Equal(t, 2*time.Second, fired.Sub(start))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := clock.Real{}
				tc.run(t, c, c.Now())
			})
		})
	}
}

func TestTicker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Or(nil)
		start := c.Now()
		tk := c.NewTicker(10 * time.Second)
		for i := 1; i <= 3; i++ {
			tick := <-tk.C()
			require.Equal(t, time.Duration(i)*10*time.Second, tick.Sub(start))
		}
		tk.Reset(time.Minute)
		tick := <-tk.C()
		require.Equal(t, 90*time.Second, tick.Sub(start), "the new period counts from the reset")
		tk.Stop()
		time.Sleep(5 * time.Minute)
		select {
		case v := <-tk.C():
			t.Fatalf("a stopped ticker ticked at %v", v)
		default:
		}
	})
}

func TestOrKeepsAGivenClock(t *testing.T) {
	t.Parallel()
	var c clock.Clock = clock.Real{}
	require.Equal(t, c, clock.Or(c))
	require.Equal(t, clock.Clock(clock.Real{}), clock.Or(nil))
}
