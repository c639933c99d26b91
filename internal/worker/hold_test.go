package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHoldBack(t *testing.T) {
	base := holdInput{
		left: time.Hour, remaining: 200, maxRows: 100, fill: 3,
		maxWait: 2 * time.Second, maxHold: time.Minute,
	}
	for _, tt := range []struct {
		name  string
		in    func(h holdInput) holdInput
		hold  bool
		until time.Duration
	}{
		{"plenty of calls: the packet goes", func(h holdInput) holdInput { h.needed, h.expected = 3, 250; return h }, false, 0},
		{"a burst read as a burst: 250 commands now, as many expected", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued, h.expected = 220, 3, 0, 250
			return h
		}, false, 0},
		{"a scarce backlog: hold for full packets", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued = 40, 10, 100_000
			return h
		}, true, time.Minute},
		{"scarce and nothing more coming: the packet goes", func(h holdInput) holdInput {
			h.remaining, h.needed = 1, 50
			return h
		}, false, 0},
		{"a trickle that needs more calls than are left", func(h holdInput) holdInput {
			h.remaining, h.needed, h.expected = 2, 1, 720
			return h
		}, true, time.Minute},
		{"held for part of max-hold already", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued, h.held = 2, 10, 5000, 45*time.Second
			return h
		}, true, 15 * time.Second},
		{"held for max-hold: it goes", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued, h.held = 2, 10, 5000, time.Minute
			return h
		}, false, 0},
		{"the window ends soon: spend what is left", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued, h.left = 2, 10, 5000, 4*time.Second
			return h
		}, false, 0},
		{"the hold ends before the window does", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued, h.left = 2, 10, 5000, 30*time.Second
			return h
		}, true, 25 * time.Second},
		{"a full packet is never held", func(h holdInput) holdInput {
			h.remaining, h.needed, h.queued, h.fill = 2, 10, 5000, 100
			return h
		}, false, 0},
		{"nothing due", func(h holdInput) holdInput { h.fill = 0; return h }, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hold, until := holdBack(tt.in(base))
			require.Equal(t, tt.hold, hold)
			require.Equal(t, tt.until, until)
		})
	}
}

func TestArrivals(t *testing.T) {
	var a arrivals
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	window := time.Hour
	a.add(t0, 250, window) // a burst
	require.Equal(t, 250, a.within(t0, time.Minute))
	require.Equal(t, 250, a.within(t0.Add(30*time.Minute), 59*time.Minute))
	require.Zero(t, a.within(t0.Add(30*time.Minute), 10*time.Minute), "the burst is half an hour old")
	for i := range 60 {
		a.add(t0.Add(time.Duration(i)*time.Minute), 10, window)
	}
	require.InDelta(t, 10*30, a.within(t0.Add(59*time.Minute), 30*time.Minute), 10)
	require.LessOrEqual(t, a.within(t0.Add(59*time.Minute), time.Hour), 250+600, "no more than arrived")
	require.Zero(t, a.within(t0.Add(3*time.Hour), time.Hour), "old buckets fall out")
}
