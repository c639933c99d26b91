package emulator_test

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
)

func TestParseLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		lo, hi  time.Duration
		wantErr string
	}{
		{in: "", lo: 0, hi: 0},
		{in: "0", lo: 0, hi: 0},
		{in: "20ms", lo: 20 * time.Millisecond, hi: 20 * time.Millisecond},
		{in: "10ms-50ms", lo: 10 * time.Millisecond, hi: 50 * time.Millisecond},
		{in: " 1s - 2s ", lo: time.Second, hi: 2 * time.Second},
		{in: "0-5ms", lo: 0, hi: 5 * time.Millisecond},
		{in: "50ms-10ms", wantErr: "upper bound below lower bound"},
		{in: "-5ms", wantErr: "negative"},
		{in: "fast", wantErr: "want a duration"},
		{in: "10ms-", wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			lo, hi, err := emulator.ParseLatency(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.lo, lo)
			require.Equal(t, tt.hi, hi)
		})
	}
}

func TestLimitFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    emulator.LimitFlag
		str     string
		wantErr string
	}{
		{name: "none", args: nil, want: nil, str: ""},
		{name: "one", args: []string{"--limit", "ClientUserEdit=3"}, want: emulator.LimitFlag{"ClientUserEdit": 3}, str: "ClientUserEdit=3"},
		{name: "repeated and star", args: []string{"--limit", "*=10", "--limit", "ClientRead=0"}, want: emulator.LimitFlag{"*": 10, "ClientRead": 0}, str: "*=10,ClientRead=0"},
		{name: "comma list, last wins", args: []string{"--limit", "A=1, B=2,A=5"}, want: emulator.LimitFlag{"A": 5, "B": 2}, str: "A=5,B=2"},
		{name: "no number", args: []string{"--limit", "ClientRead"}, wantErr: "want Op=n"},
		{name: "no operation", args: []string{"--limit", "=4"}, wantErr: "want Op=n"},
		{name: "negative", args: []string{"--limit", "ClientRead=-1"}, wantErr: "0 or more"},
		{name: "not a number", args: []string{"--limit", "ClientRead=many"}, wantErr: "whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var limits emulator.LimitFlag
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Var(&limits, "limit", "")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, limits)
			require.Equal(t, tt.str, limits.String())
		})
	}
}

func TestParseNight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    emulator.NightHours
		night   []int // hours that are night
		day     []int // hours that are not
		wantErr string
	}{
		{in: "", want: emulator.NightHours{}, day: []int{0, 3, 12, 23}},
		{in: "0-7", want: emulator.NightHours{From: 0, To: 7}, night: []int{0, 6}, day: []int{7, 12, 23}},
		{in: "22-06", want: emulator.NightHours{From: 22, To: 6}, night: []int{22, 23, 0, 5}, day: []int{6, 12, 21}},
		{in: "20-24", want: emulator.NightHours{From: 20, To: 24}, night: []int{20, 23}, day: []int{0, 19}},
		{in: "5-5", want: emulator.NightHours{From: 5, To: 5}, day: []int{5, 4, 6}},
		{in: "22", wantErr: "want HH-HH"},
		{in: "a-b", wantErr: "want HH-HH"},
		{in: "25-3", wantErr: "between 0 and 24"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := emulator.ParseNight(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			for _, h := range tt.night {
				require.True(t, got.Contains(h), "hour %d is night", h)
			}
			for _, h := range tt.day {
				require.False(t, got.Contains(h), "hour %d is day", h)
			}
		})
	}
	require.Equal(t, "22-06", emulator.NightHours{From: 22, To: 6}.String())
	require.Empty(t, emulator.NightHours{}.String())
}
