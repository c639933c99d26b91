package benchrun

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

func TestMatchLags(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ev := func(id string, seen, stored time.Duration) storedEvent {
		return storedEvent{Event: feed.Event{ID: id, Seen: at(seen)}, Stored: at(stored)}
	}
	cases := []struct {
		name                string
		changes             []madeChange
		events              []storedEvent
		lags                []time.Duration
		inFlight, unmatched int
	}{
		{"read after the change", []madeChange{{"a", t0}},
			[]storedEvent{ev("a", 3*time.Second, 3200*time.Millisecond)},
			[]time.Duration{3200 * time.Millisecond}, 0, 0},
		{"an event read before the change is not its", []madeChange{{"a", t0}},
			[]storedEvent{ev("a", -time.Second, 500*time.Millisecond), ev("a", 9*time.Second, 9100*time.Millisecond)},
			[]time.Duration{9100 * time.Millisecond}, 0, 0},
		{"seen by a read in flight", []madeChange{{"a", t0}},
			[]storedEvent{ev("a", -10*time.Millisecond, 100*time.Millisecond)},
			[]time.Duration{100 * time.Millisecond}, 1, 0},
		{"two changes shown by one event", []madeChange{{"a", t0}, {"a", at(2 * time.Second)}},
			[]storedEvent{ev("a", 5*time.Second, 5500*time.Millisecond)},
			[]time.Duration{5500 * time.Millisecond, 3500 * time.Millisecond}, 0, 0},
		{"other objects' events and earlier ones do not count", []madeChange{{"a", t0}},
			[]storedEvent{ev("b", time.Second, 2*time.Second), ev("a", -5*time.Second, -4*time.Second)},
			nil, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := matchLags(c.changes, c.events)
			require.Equal(t, c.lags, m.Lags)
			require.Equal(t, c.inFlight, m.InFlight)
			require.Equal(t, c.unmatched, m.Unmatched)
		})
	}
}

// TestChurnLogLeavesOutWhatChangedNothing: an edit that leaves a client
// user's row as it was is counted apart; other kinds are not logged.
func TestChurnLogLeavesOutWhatChangedNothing(t *testing.T) {
	t.Parallel()
	row := func(surname string) map[string]soap.Value {
		return map[string]soap.Value{"ClientUserID": soap.String("u1"), "Surname": soap.String(surname)}
	}
	l := &churnLog{}
	l.seed([]emulator.Object{{ID: "u1", Row: row("Lee")}})
	t0 := time.Now()
	l.record(emulator.Change{Object: "ClientUser", ID: "u1", What: "edited", At: t0, Row: row("Lee")})
	l.record(emulator.Change{Object: "ClientUser", ID: "u1", What: "edited", At: t0.Add(time.Second), Row: row("Smith")})
	l.record(emulator.Change{Object: "ClientUser", ID: "u1", What: "edited", At: t0.Add(2 * time.Second), Row: row("Smith")})
	l.record(emulator.Change{Object: "ClientUser", ID: "u2", What: "created", At: t0.Add(3 * time.Second), Row: row("Lee")})
	l.record(emulator.Change{Object: "Specialist", ID: "s1", What: "created", At: t0.Add(4 * time.Second)})
	changes, noOps := l.snapshot()
	require.Equal(t, []madeChange{{"u1", t0.Add(time.Second)}, {"u2", t0.Add(3 * time.Second)}}, changes)
	require.Equal(t, 2, noOps)
}

// TestAnswerMeterHoldsAndTimesTheFirstCall: the first SOAP call waits
// until let, and its answer is counted; later calls pass untouched.
func TestAnswerMeterHoldsAndTimesTheFirstCall(t *testing.T) {
	t.Parallel()
	answer := strings.Repeat("x", 100_000)
	m := newAnswerMeter()
	var served atomic.Int64
	hs := httptest.NewServer(m.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		_, _ = io.WriteString(w, answer)
	})))
	t.Cleanup(hs.Close)
	post := func() string {
		resp, err := http.Post(hs.URL+emulator.Path, "text/xml", strings.NewReader("<x/>"))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	got := make(chan string, 1)
	go func() { got <- post() }()
	select {
	case <-m.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not arrive")
	}
	require.Zero(t, served.Load(), "held before the sandbox")
	before := time.Now()
	m.let()
	require.Equal(t, answer, <-got)
	first, last, n := m.answer()
	require.Equal(t, int64(len(answer)), n)
	require.False(t, first.Before(before))
	require.False(t, last.Before(first))
	require.Equal(t, answer, post(), "a second call is not held")
	_, _, n = m.answer()
	require.Equal(t, int64(len(answer)), n, "nor counted")
}
