package feed

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

func TestChangedFrom(t *testing.T) {
	marker := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name          string
		marker, since time.Time
		want          time.Time
		ok            bool
	}{
		{"a marker: less the overlap", marker, since, marker.Add(-time.Minute), true},
		{"no marker: since (the backfill)", time.Time{}, since, since, true},
		{"neither: every object", time.Time{}, time.Time{}, time.Time{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := changedFrom(tt.marker, tt.since, time.Minute)
			require.Equal(t, tt.ok, ok)
			require.True(t, tt.want.Equal(got), "%s, want %s", got, tt.want)
		})
	}
}

func TestNextMarker(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	took := 3 * time.Second
	for _, tt := range []struct {
		name   string
		server time.Time
		want   time.Time
	}{
		{"no Date: the worker's clock", time.Time{}, start},
		{"the service's clock agrees: a second before (its Date is rounded down)", start.Add(took), start.Add(-time.Second)},
		{"the service's clock is behind: its start, by its clock", start.Add(took - 90*time.Second), start.Add(-91 * time.Second)},
		{"the service's clock is ahead: the worker's start", start.Add(took + 90*time.Second), start},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, nextMarker(start, tt.server, took))
		})
	}
}

func TestSkew(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 700_000_000, time.UTC)
	d, ok := skew(now, now.Truncate(time.Second))
	require.True(t, ok)
	require.Equal(t, 200*time.Millisecond, d, "Date is rounded down: half a second is assumed")
	d, _ = skew(now, now.Add(-2*time.Minute).Truncate(time.Second))
	require.InDelta(t, (2 * time.Minute).Seconds(), d.Seconds(), 1)
	_, ok = skew(now, time.Time{})
	require.False(t, ok)
}

func TestRowEvent(t *testing.T) {
	cols := []soap.Column{{Name: "ClientUserID"}, {Name: "Name"}, {Name: "Deleted"}}
	seen := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	row := []soap.Value{soap.String("u-1"), soap.String("Анна"), soap.Bool(false)}
	e, err := rowEvent("ClientUserRead", "ClientUser", []string{"ClientUserID"}, cols, row, seen)
	require.NoError(t, err)
	require.Equal(t, "u-1", e.ID)
	require.False(t, e.Deleted)
	require.Equal(t, "Анна", e.Data["Name"])
	require.Len(t, e.Version, 32)
	require.Equal(t, "ClientUser.u-1."+e.Version, e.MsgID())
	require.Equal(t, "connect.change.ClientUser", e.Subject(ChangePrefix))

	same, err := rowEvent("ClientUserRead", "ClientUser", []string{"ClientUserID"}, cols, row, seen.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, e.Version, same.Version, "the same state read later: the same version")

	deleted := []soap.Value{soap.String("u-1"), soap.String("Анна"), soap.Bool(true)}
	d, err := rowEvent("ClientUserRead", "ClientUser", []string{"ClientUserID"}, cols, deleted, seen)
	require.NoError(t, err)
	require.True(t, d.Deleted)
	require.NotEqual(t, e.Version, d.Version)

	pair, err := rowEvent("UserServiceLineRead", "UserServiceLine", []string{"ClientUserID", "Name"}, cols, row, seen)
	require.NoError(t, err)
	require.Equal(t, "u-1/Анна", pair.ID, "an association's id joins its columns")

	_, err = rowEvent("ClientUserRead", "ClientUser", []string{"ClientUserID"}, cols, []soap.Value{soap.Null(), soap.String("x"), soap.Bool(false)}, seen)
	require.ErrorContains(t, err, "without its ClientUserID")

	for _, asMsgpack := range []bool{false, true} {
		b, _, err := encodeEvent(e, asMsgpack)
		require.NoError(t, err)
		back, err := DecodeEvent(b)
		require.NoError(t, err)
		require.Equal(t, e.Version, back.Version)
		require.Equal(t, e.ID, back.ID)
		require.True(t, e.Seen.Equal(back.Seen))
	}
	require.Equal(t, "ClientUser."+"dS0x", MirrorKey("ClientUser", "u-1"))
}
