package tariff_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/tariff"
)

func TestParseLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    map[string]int
		wantErr string
	}{
		{name: "empty", in: "", want: map[string]int{}},
		{name: "one", in: "ClientUserEdit=40", want: map[string]int{"ClientUserEdit": 40}},
		{name: "star and spaces", in: " *=100 , ClientUserEdit = 40 ", want: map[string]int{"*": 100, "ClientUserEdit": 40}},
		{name: "zero: no call", in: "ClientRead=0", want: map[string]int{"ClientRead": 0}},
		{name: "empty pairs skipped", in: "A=1,,B=2,", want: map[string]int{"A": 1, "B": 2}},
		{name: "no number", in: "ClientRead", wantErr: "want Op=n"},
		{name: "no operation", in: "=4", wantErr: "want Op=n"},
		{name: "space inside the name", in: "Client Read=4", wantErr: "want Op=n"},
		{name: "wildcard inside the name", in: "Client*=4", wantErr: "want Op=n"},
		{name: "negative", in: "ClientRead=-1", wantErr: "0 or more"},
		{name: "not a number", in: "ClientRead=many", wantErr: "whole number"},
		{name: "fraction", in: "ClientRead=1.5", wantErr: "whole number"},
		{name: "overflow", in: "ClientRead=99999999999999999999", wantErr: "whole number"},
		{name: "duplicate", in: "A=1,B=2,A=5", wantErr: "A given twice"},
		{name: "duplicate star", in: "*=1, *=2", wantErr: "* given twice"},
		{name: "a long name is refused", in: strings.Repeat("A", 129) + "=1", wantErr: "want Op=n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tariff.ParseLimits(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			back, err := tariff.ParseLimits(tariff.FormatLimits(got))
			require.NoError(t, err)
			require.Equal(t, got, back, "FormatLimits writes what ParseLimits reads")
		})
	}
}

func TestLimitFlag(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		want    tariff.LimitFlag
		str     string
		wantErr string
	}{
		{name: "none", args: nil, want: nil, str: ""},
		{name: "one", args: []string{"--limit", "ClientUserEdit=3"}, want: tariff.LimitFlag{"ClientUserEdit": 3}, str: "ClientUserEdit=3"},
		{name: "repeated and star", args: []string{"--limit", "*=10", "--limit", "ClientRead=0"}, want: tariff.LimitFlag{"*": 10, "ClientRead": 0}, str: "*=10,ClientRead=0"},
		{name: "comma list", args: []string{"--limit", "B=2, A=1"}, want: tariff.LimitFlag{"A": 1, "B": 2}, str: "A=1,B=2"},
		{name: "the same operation in two uses", args: []string{"--limit", "A=1", "--limit", "A=5"}, wantErr: "A given twice"},
		{name: "bad pair", args: []string{"--limit", "A=1,B"}, wantErr: "want Op=n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var limits tariff.LimitFlag
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Var(&limits, "limit", "")
			err := fs.Parse(tc.args)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, limits)
			require.Equal(t, tc.str, limits.String())
		})
	}
	var unset *tariff.LimitFlag
	require.Empty(t, unset.String(), "flag.PrintDefaults may call String on a nil value")

	// A failed Set leaves the flag as it was.
	limits := tariff.LimitFlag{}
	require.NoError(t, limits.Set("A=1"))
	require.Error(t, limits.Set("B=2,C"))
	require.Equal(t, tariff.LimitFlag{"A": 1}, limits)
}

func TestCheckLimits(t *testing.T) {
	t.Parallel()
	known := func(op string) bool { return op == "ClientUserEdit" || op == "ClientRead" }
	require.NoError(t, tariff.CheckLimits(nil, known))
	require.NoError(t, tariff.CheckLimits(map[string]int{"*": 5, "ClientRead": 0}, known))
	err := tariff.CheckLimits(map[string]int{"ClientUserEditt": 1, "ClientRead": -2, "Nope": 3}, known)
	require.ErrorContains(t, err, `limit for unknown operation "ClientUserEditt"`)
	require.ErrorContains(t, err, `limit for unknown operation "Nope"`)
	require.ErrorContains(t, err, "negative limit -2 for ClientRead")
	require.Equal(t, "negative limit -2 for ClientRead\nlimit for unknown operation \"ClientUserEditt\"\nlimit for unknown operation \"Nope\"", err.Error(),
		"every problem, sorted by operation")
}

func TestParseNight(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    tariff.Night
		night   []int // hours that are night
		day     []int // hours that are not
		wantErr string
	}{
		{in: "", want: tariff.Night{}, day: []int{0, 3, 12, 23}},
		{in: "  ", want: tariff.Night{}, day: []int{0}},
		{in: "0-7", want: tariff.Night{From: 0, To: 7}, night: []int{0, 6}, day: []int{7, 12, 23}},
		{in: "22-06", want: tariff.Night{From: 22, To: 6}, night: []int{22, 23, 0, 5}, day: []int{6, 12, 21}},
		{in: " 22 - 6 ", want: tariff.Night{From: 22, To: 6}, night: []int{22, 5}, day: []int{6}},
		{in: "20-24", want: tariff.Night{From: 20, To: 24}, night: []int{20, 23}, day: []int{0, 19}},
		{in: "22-0", want: tariff.Night{From: 22, To: 0}, night: []int{22, 23}, day: []int{0, 21}},
		{in: "0-24", want: tariff.Night{From: 0, To: 24}, night: []int{0, 12, 23}},
		{in: "5-5", wantErr: "the same"},
		{in: "0-0", wantErr: "the same"},
		{in: "22", wantErr: "want HH-HH"},
		{in: "a-b", wantErr: "want HH-HH"},
		{in: "-1-4", wantErr: "want HH-HH"},
		{in: "+1-4", wantErr: "want HH-HH"},
		{in: "001-4", wantErr: "want HH-HH"},
		{in: "1-4-5", wantErr: "want HH-HH"},
		{in: "25-3", wantErr: "from 0 to 24"},
		{in: "24-3", wantErr: "below 24"},
		{in: "3-25", wantErr: "from 0 to 24"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := tariff.ParseNight(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.in != "" && strings.TrimSpace(tc.in) != "", got.IsSet())
			for _, h := range tc.night {
				require.True(t, got.Contains(h), "hour %d is night", h)
			}
			for _, h := range tc.day {
				require.False(t, got.Contains(h), "hour %d is day", h)
			}
			back, err := tariff.ParseNight(got.String())
			require.NoError(t, err)
			require.Equal(t, got, back, "String writes what ParseNight reads")
		})
	}
	require.Equal(t, "22-06", tariff.Night{From: 22, To: 6}.String())
	require.Empty(t, tariff.Night{}.String())
	require.NoError(t, tariff.Night{}.Validate())
	require.Error(t, tariff.Night{From: 25, To: 3}.Validate())
	require.Error(t, tariff.Night{From: -1, To: 3}.Validate())
}
