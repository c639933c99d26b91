package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseTime: the times of `worker export rerun`, with an offset or as
// wall clocks of the account's zone.
func TestParseTime(t *testing.T) {
	t.Parallel()
	msk := time.FixedZone("MSK", 3*60*60)
	cases := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2026-03-01T10:20:30Z", want: time.Date(2026, 3, 1, 10, 20, 30, 0, time.UTC)},
		{in: "2026-03-01T10:20:30+05:00", want: time.Date(2026, 3, 1, 5, 20, 30, 0, time.UTC)},
		{in: "2026-03-01T10:20:30", want: time.Date(2026, 3, 1, 10, 20, 30, 0, msk)},
		{in: " 2026-03-01 ", want: time.Date(2026, 3, 1, 0, 0, 0, 0, msk)},
		{in: "2026-03-01 10:20", err: "want RFC 3339"},
		{in: "yesterday", err: `"yesterday"`},
		{in: "2026-02-30", err: "want RFC 3339"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseTime(c.in, msk)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.True(t, c.want.Equal(got), "got %s, want %s", got, c.want)
		})
	}
}

// TestExportRerunCommandLine: a rerun's command line is checked before
// anything is contacted; a mistake in it is exit status 2 and says what.
func TestExportRerunCommandLine(t *testing.T) {
	t.Parallel()
	// No NATS at this address: a command line that got as far as
	// connecting would fail with status 1, not 2.
	base := []string{"--nats-url", "nats://127.0.0.1:1", "--connect-url", "http://127.0.0.1:1"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"export alone", []string{"export"}, "export rerun <Operation or export> --from <time> --to <time>"},
		{"export of another word", []string{"export", "again"}, "export rerun <Operation or export>"},
		{"no operation", append([]string{"export", "rerun", "--from", "2026-01-01", "--to", "2026-02-01"}, base...), "export rerun takes <Operation or export>"},
		{"two operations", append([]string{"export", "rerun", "GetHistoryOfServiceCalls", "GetHistoryOfSIPCalls", "--from", "2026-01-01", "--to", "2026-02-01"}, base...), "export rerun takes"},
		{"no from", append([]string{"export", "rerun", "GetHistoryOfServiceCalls", "--to", "2026-02-01"}, base...), "--from is required"},
		{"no to", append([]string{"export", "rerun", "GetHistoryOfServiceCalls", "--from", "2026-01-01"}, base...), "--to is required"},
		{"bad from", append([]string{"export", "rerun", "GetHistoryOfServiceCalls", "--from", "last week", "--to", "2026-02-01"}, base...), `--from: "last week"`},
		{"from on another subcommand", append([]string{"exports", "--from", "2026-01-01"}, base...), "flag provided but not defined: -from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr strings.Builder
			code := run(context.Background(), c.args, func(string) string { return "" }, &stdout, &stderr)
			require.Equal(t, 2, code, stderr.String())
			require.Contains(t, stderr.String(), c.want)
			require.Empty(t, stdout.String())
		})
	}
}
