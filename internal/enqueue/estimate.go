package enqueue

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/quota"
)

// Estimate is a forecast of when the last result of a run comes, made
// from the quota: the calls the run still needs and when the ledger lets
// them be made.
type Estimate struct {
	// At is when the estimate was made.
	At time.Time
	// Calls is the number of API calls still needed, every operation
	// together; calls already made and not yet answered are not counted.
	Calls int
	// Finish is when the last result is expected. Zero when it never
	// comes (see Blocked).
	Finish time.Time
	// Op is the operation whose last result comes last, and Rate its
	// calls per hour in the window after the current one.
	Op   string
	Rate float64
	// Ops is the number of operations with commands left.
	Ops int
	// CallTime is the time between Op's calls the estimate took (see
	// Config.CallTime); 0 when not known yet.
	CallTime time.Duration
	// Blocked names the operation the quota never lets finish (allowed no
	// call, or not within a million windows), when Finish is zero.
	Blocked string
	// Ledger reports whether the shared ledger was read. When false the
	// current window is assumed unused and the limits are the configured
	// ones (the catalogue's, or --limit).
	Ledger bool
	// Started reports whether a call of the run had been answered: from
	// then on the estimate knows how long a call takes (CallTime).
	Started bool
}

// Text is the estimate for people, as of now:
// "≈ 3 h 40 min: 412 calls at 225 calls/h".
func (e Estimate) Text(now time.Time) string {
	var b strings.Builder
	if e.Finish.IsZero() {
		fmt.Fprintf(&b, "no estimate: the quota never lets %s finish", e.Blocked)
	} else {
		fmt.Fprintf(&b, "≈ %s: %s", humanDuration(e.Finish.Sub(now)), count(e.Calls, "call"))
		if e.Rate > 0 {
			fmt.Fprintf(&b, " at %s calls/h", strings.TrimSuffix(fmt.Sprintf("%.1f", e.Rate), ".0"))
		}
		if e.Ops > 1 {
			fmt.Fprintf(&b, " (%s last)", e.Op)
		}
	}
	if !e.Ledger {
		b.WriteString("; quota ledger not read, this window assumed unused")
	}
	return b.String()
}

// String is the estimate as of when it was made.
func (e Estimate) String() string { return e.Text(e.At) }

// humanDuration writes d in the two largest units that matter: "45 s",
// "2 min 5 s", "3 h 40 min", "2 d 3 h". Seconds are rounded up, so that
// what is left is never shown as 0 s before it is.
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "0 s"
	}
	s := int64(math.Ceil(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 10*60:
		return joinUnits(s/60, "min", s%60, "s")
	case s < 3600:
		return fmt.Sprintf("%d min", (s+30)/60)
	case s < 24*3600:
		m := (s + 30) / 60
		return joinUnits(m/60, "h", m%60, "min")
	}
	h := (s + 1800) / 3600
	return joinUnits(h/24, "d", h%24, "h")
}

// joinUnits writes "3 h 40 min", or "3 h" when the smaller part is 0.
func joinUnits(big int64, bigUnit string, small int64, smallUnit string) string {
	if small == 0 {
		return fmt.Sprintf("%d %s", big, bigUnit)
	}
	return fmt.Sprintf("%d %s %d %s", big, bigUnit, small, smallUnit)
}

// Demand is what one operation of a run still needs, as the estimate
// sees it.
type Demand struct {
	// Op is the operation.
	Op string
	// Ready is the number of the run's commands of Op published and not
	// carried by any call yet: the workers can send them now.
	Ready int
	// Coming is the number of the run's commands of Op still to be
	// published, at Arrival commands a second (0: taken as there now).
	Coming  int
	Arrival float64
	// Rows is how many commands one call carries (the packet size); less
	// than 1 counts as 1.
	Rows int
	// CallTime is the time between two calls of Op, made one after
	// another, and from a call to its result; 0 means no time. It bounds
	// the calls of the current window; those of later windows only when
	// CallTimeSettled (configured, or measured over enough calls): one
	// call's latency, the first after a start in particular, says little
	// of the calls an hour later.
	CallTime        time.Duration
	CallTimeSettled bool
	// InFlight is the number of calls already granted whose results have
	// not come.
	InFlight int
	// Ledger is Op's ledger in the window holding the estimate's time. One
	// of another window (its Reset is not that window's end), or the zero
	// Status, counts as a window with no call made.
	Ledger quota.Status
}

// forecastInput is everything an estimate is made from.
type forecastInput struct {
	// now is when the estimate is made.
	now time.Time
	// windows is the workers' calendar, defaults applied.
	windows quota.Windows
	// limit returns the calls op may make in the window starting at start.
	limit func(op string, start time.Time) int
	// ops are the operations with commands left.
	ops []Demand
	// ledger and started are passed through to the Estimate.
	ledger, started bool
}

// maxWindows bounds the windows an estimate looks ahead: past them the
// run is taken never to end (a million hours, with hourly windows).
const maxWindows = 1 << 20

// forecast estimates when the last result of the run comes. Operations
// spend their own quotas, in parallel: the run ends when its slowest
// operation does. Within an operation the calls go one after another
// (CallTime apart; in later windows only when it is settled) from now,
// or from the end of the guard interval after a window starts, until the
// guard interval before it ends, up to what is left of the current
// window's limit; then in the next windows, each with its own limit
// (night and day differ). A call goes with a full packet, so while
// commands are still being published it waits until they have come; the
// last one goes with the rest. A result comes CallTime after its call
// starts.
func forecast(in forecastInput) Estimate {
	e := Estimate{At: in.now, Ledger: in.ledger, Started: in.started, Ops: len(in.ops)}
	for _, d := range in.ops {
		calls, finish, ok := opFinish(in, d)
		e.Calls += calls
		if !ok {
			// An operation that never ends decides: the rest cannot matter.
			return Estimate{At: in.now, Calls: e.Calls, Blocked: d.Op, Ops: e.Ops, Ledger: in.ledger, Started: in.started}
		}
		if e.Op == "" || finish.After(e.Finish) {
			e.Finish, e.Op, e.CallTime = finish, d.Op, d.CallTime
			next := in.windows.Start(in.now).Add(in.windows.Length)
			e.Rate = float64(in.limit(d.Op, next)) * float64(time.Hour) / float64(in.windows.Length)
		}
	}
	if e.Op == "" {
		e.Finish = in.now // nothing left
	}
	return e
}

// opFinish returns the calls d still needs, when its last result comes,
// and false when no window ever lets them be made.
func opFinish(in forecastInput, d Demand) (int, time.Time, bool) {
	w, ct := in.windows, max(d.CallTime, 0)
	rows := max(d.Rows, 1)
	ready, total := max(d.Ready, 0), max(d.Ready, 0)+max(d.Coming, 0)
	need := (total + rows - 1) / rows
	if need == 0 {
		if d.InFlight > 0 {
			return 0, in.now.Add(ct), true
		}
		return 0, in.now, true
	}
	// ready returns when the j-th call from now (0-based) has its packet:
	// full, or for the last call the rest.
	readyAt := func(j int) time.Time {
		short := min((j+1)*rows, total) - ready
		if short <= 0 || d.Arrival <= 0 {
			return in.now
		}
		return in.now.Add(time.Duration(float64(short) / d.Arrival * float64(time.Second)))
	}
	allReady := readyAt(need - 1)
	// Windows a day holds: a day of windows that allow no call means no
	// window ever will (limits only change between day and night).
	perDay := max(int(24*time.Hour/w.Length), 1)
	idle := 0
	t := in.now
	var last time.Time
	for i, j := 0, 0; j < need; i++ {
		if i >= maxWindows || idle > perDay {
			return need, time.Time{}, false
		}
		start := w.Start(t)
		end := start.Add(w.Length)
		from, until := start.Add(w.Guard), end.Add(-w.Guard)
		if t.After(from) {
			from = t
		}
		c := ct
		if i > 0 && !d.CallTimeSettled {
			c = 0
		}
		left := in.limit(d.Op, start)
		if i == 0 && d.Ledger.Reset.Equal(end) {
			left = d.Ledger.Remaining()
		}
		if left <= 0 {
			idle++
		} else {
			idle = 0
		}
		// While packets are still filling, call by call.
		for left > 0 && j < need && from.Before(until) && allReady.After(from) {
			at := readyAt(j)
			if at.After(from) {
				from = at
			}
			if !from.Before(until) {
				break
			}
			last, from = from, from.Add(c)
			j, left = j+1, left-1
		}
		// Every packet ready: as many calls as fit.
		if left > 0 && j < need && from.Before(until) {
			fit := left
			if c > 0 {
				// Calls start at from, from+c, … before until.
				fit = min(fit, int((until.Sub(from)+c-1)/c))
			}
			k := min(need-j, fit)
			last = from.Add(time.Duration(k-1) * c)
			j += k
		}
		t = end
	}
	return need, last.Add(ct), true
}
