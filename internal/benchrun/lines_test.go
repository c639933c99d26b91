package benchrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// utime 250 and stime 50 ticks: 3s; the name holds a space and a ')'.
	line := "4242 (a b) c) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 100 1000000 900 18446744073709551615\n"
	cases := []struct {
		name, stat string
		want       time.Duration
		fails      bool
	}{
		{"utime and stime", line, 3 * time.Second, false},
		{"no name", "4242 S 1 2 3", 0, true},
		{"too few fields", "4242 (w) S 1 2 3", 0, true},
		{"not a number", "4242 (w) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 50 0", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat(c.stat)
			if c.fails {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestFewestCallsCountsPacketsPerShape(t *testing.T) {
	t.Parallel()
	many := func(n int, optional ...string) []edit {
		out := make([]edit, n)
		for i := range out {
			out[i] = requiredEdit(fmt.Sprintf("u%d", i), i)
			for _, f := range optional {
				out[i][f] = "x"
			}
		}
		return out
	}
	cases := []struct {
		name          string
		edits         []edit
		calls, shapes int
	}{
		{"none", nil, 0, 0},
		{"one shape, one packet", many(100), 1, 1},
		{"one shape, two packets", many(101), 2, 1},
		{"two shapes", append(many(150), many(30, "Post")...), 3, 2},
		{"the order of fields does not make a shape", append(many(1, "Post", "Surname"), many(1, "Surname", "Post")...), 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			calls, shapes := fewestCalls(c.edits, 100)
			require.Equal(t, c.calls, calls)
			require.Equal(t, c.shapes, shapes)
		})
	}
}

// TestMixedEditsAreValidAndVaried: line 11's edits pass the catalogue's
// checks, are the same on every run, and use more than a few shapes.
func TestMixedEditsAreValidAndVaried(t *testing.T) {
	t.Parallel()
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
	}
	a, b := mixedEdits(users), mixedEdits(users)
	require.Equal(t, a, b, "seeded: the same edits every run")
	o, ok := catalog.Lookup(op)
	require.True(t, ok)
	for i, ed := range a {
		_, err := o.Fields(ed)
		require.NoError(t, err, "edit %d", i)
	}
	_, shapes := fewestCalls(a, 100)
	require.Equal(t, 1<<len(optionalFields), shapes, "every combination of the optional fields occurs")
}

func TestCheckHot(t *testing.T) {
	t.Parallel()
	users := []string{"u1", "u2"}
	edits := hotEdits(3)(users) // u1 u2 u1 u2 u1 u2
	ok := func() []string { return []string{"e4", "e5", "e4", "e5", "", ""} }
	cases := []struct {
		name      string
		collapsed func() []string
		final     map[string]int // user → the edit its name comes from
		fails     string
	}{
		{"every user on its last edit", ok, map[string]int{"u1": 4, "u2": 5}, ""},
		{"a user on an earlier edit", ok, map[string]int{"u1": 2, "u2": 5}, "not on its last"},
		{"collapsed into an earlier command", func() []string { c := ok(); c[2] = "e0"; return c }, map[string]int{"u1": 4, "u2": 5}, "not a later command"},
		{"collapsed into another user's", func() []string { c := ok(); c[0] = "e5"; return c }, map[string]int{"u1": 4, "u2": 5}, "another user"},
		{"collapsed into a collapsed one", func() []string { c := ok(); c[0] = "e2"; return c }, map[string]int{"u1": 4, "u2": 5}, "collapsed itself"},
		{"not an id", func() []string { c := ok(); c[0] = "x"; return c }, map[string]int{"u1": 4, "u2": 5}, "not a later command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := newEnv(emulator.Config{})
			require.NoError(t, err)
			t.Cleanup(e.Close)
			for user, i := range c.final {
				_, err := e.emu.Put("ClientUser", user, map[string]soap.Value{"Name": soap.String(edits[i]["Name"].(string))})
				require.NoError(t, err)
			}
			err = checkHot(e, edits, &results{prefix: "e", collapsed: c.collapsed()})
			if c.fails == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.fails)
		})
	}
}

// TestServeBrokerServesUntilCancelled: line 12's broker process writes a
// URL a client can use, and stops when its context ends.
func TestServeBrokerServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeBroker(ctx, pw); pw.Close() }()
	sc := bufio.NewScanner(pr)
	require.True(t, sc.Scan(), "a URL line")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	nc, err := nats.Connect(sc.Text())
	require.NoError(t, err)
	js, err := nc.JetStream()
	require.NoError(t, err)
	_, err = js.AccountInfo()
	require.NoError(t, err, "JetStream is on")
	nc.Close()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("ServeBroker did not return after its context ended")
	}
}
