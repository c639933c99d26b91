package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		args  []string
		out   string // what stdout starts with
		fails string
	}{
		{"users", []string{"users"}, "430\n", ""},
		{"commands", []string{"commands"}, "# The sample of `make run`", ""},
		{"ports", []string{"ports", "2"}, "127.0.0.1:", ""},
		{"ports without a count", []string{"ports"}, "", "want a count"},
		{"ports of a bad count", []string{"ports", "99"}, "", "not a count from 1 to 16"},
		{"summary without its files", []string{"summary"}, "", "-commands is required"},
		{"summary of a missing file", []string{"summary", "-commands", "/nonexistent", "-results", "/nonexistent", "-stats", "/nonexistent", "-quota", "/nonexistent"}, "", "no such file"},
		{"nothing", nil, "", "no subcommand"},
		{"unknown", []string{"serve"}, "", `unknown subcommand "serve"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(c.args, &out, &errOut)
			if c.fails != "" {
				require.ErrorContains(t, err, c.fails)
				return
			}
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(out.String(), c.out), out.String())
		})
	}
}
