package feed

import "time"

// Marker arithmetic, pure.
//
// The service keeps no watermark for us: a read with ChangedFrom = T
// returns the objects changed at or after T, to the second, by the
// service's clock, in the account's time zone. So the feed keeps its own
// marker: the moment its last complete poll's call started. A change that
// lands while a call runs is then read again by the next poll, and the
// overlap covers what the two clocks disagree by, and the second
// precision.

// changedFrom is the ChangedFrom of a poll: the marker less the overlap,
// or since for a feed without a marker (its backfill); ok false means no
// ChangedFrom at all: every object.
func changedFrom(marker, since time.Time, overlap time.Duration) (from time.Time, ok bool) {
	switch {
	case !marker.IsZero():
		return marker.Add(-overlap), true
	case !since.IsZero():
		return since, true
	}
	return time.Time{}, false
}

// nextMarker is the marker a complete poll leaves: the moment its call
// started, by the worker's clock (start) or by the service's, whichever
// is earlier. The service's is its answer's Date (zero when absent: the
// worker's clock alone), less the call's duration, less the second Date
// is rounded down to.
func nextMarker(start, serverDate time.Time, took time.Duration) time.Time {
	if serverDate.IsZero() {
		return start
	}
	byServer := serverDate.Add(-took - time.Second)
	if byServer.Before(start) {
		return byServer
	}
	return start
}

// skew is how far the service's clock is behind the worker's (negative:
// ahead), from an answer's Date and the worker's time when it came.
// ok is false without a Date.
func skew(received, serverDate time.Time) (time.Duration, bool) {
	if serverDate.IsZero() {
		return 0, false
	}
	// Date is rounded down to the second: the service's clock was between
	// serverDate and serverDate + 1s.
	return received.Sub(serverDate.Add(500 * time.Millisecond)), true
}
