// Command worker is the bridge between NATS JetStream and the 1C-Connect
// API: it takes commands from connect.cmd.<Operation>, sends them in
// packets within the API's hourly quota, and publishes each command's
// result; with --feed it also follows change-tracked reads, publishing
// change events to connect.change.<Object> and keeping a mirror of the
// objects. See the README for the contract.
//
//	worker [flags]                     run
//	worker quota [flags]               print the shared quota ledger of this window
//	worker feeds [flags]               print the change feeds
//	worker mirror get <Object> <id>    print one object's record in the mirror
//	worker mirror ls <Object>          print every object of a kind in the mirror
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	_ "time/tzdata" // --quota-tz works on images without a time zone database

	"github.com/onec-connect/connect-bridge/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// subcommand is one of the tools beside the worker itself: its words on
// the command line, how many arguments it takes before or after the
// flags, and what it does.
type subcommand struct {
	words []string
	args  int
	what  string // "<Object> <id>", for errors
	do    func(ctx context.Context, cfg daemon.Config, args []string, stdout, stderr io.Writer) error
}

var subcommands = []subcommand{
	{words: []string{"quota"}, do: func(ctx context.Context, cfg daemon.Config, _ []string, stdout, _ io.Writer) error {
		return daemon.PrintQuota(ctx, cfg, stdout)
	}},
	{words: []string{"feeds"}, do: func(ctx context.Context, cfg daemon.Config, _ []string, stdout, _ io.Writer) error {
		return daemon.PrintFeeds(ctx, cfg, stdout)
	}},
	{words: []string{"mirror", "get"}, args: 2, what: "<Object> <id>", do: func(ctx context.Context, cfg daemon.Config, a []string, stdout, _ io.Writer) error {
		return daemon.PrintMirrorRecord(ctx, cfg, stdout, a[0], a[1])
	}},
	{words: []string{"mirror", "ls"}, args: 1, what: "<Object>", do: func(ctx context.Context, cfg daemon.Config, a []string, stdout, stderr io.Writer) error {
		return daemon.PrintMirrorList(ctx, cfg, stdout, stderr, a[0])
	}},
}

// run runs the worker, or one of the subcommands, and returns the exit
// status: 0, 1 when it failed, 2 for a bad command line.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	sub, args := findSubcommand(args)
	if sub == nil && len(args) > 0 && args[0] == "mirror" {
		fmt.Fprintln(stderr, "worker: mirror get <Object> <id> or mirror ls <Object>")
		return 2
	}
	// The subcommand's own arguments come before the flags (or after).
	var pos []string
	if sub != nil {
		for len(args) > 0 && len(pos) < sub.args && (args[0] == "" || args[0][0] != '-') {
			pos, args = append(pos, args[0]), args[1:]
		}
	}
	cfg, rest, err := parseArgs(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && sub != nil {
		pos = append(pos, rest...)
		rest = nil
		if len(pos) != sub.args {
			err = fmt.Errorf("%s takes %s", strings.Join(sub.words, " "), sub.what)
			if sub.args == 0 {
				err = fmt.Errorf("unexpected arguments %q", pos)
			}
		}
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments %q", rest)
	}
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	if sub != nil {
		if err := sub.do(ctx, cfg, pos, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "worker %s: %v\n", sub.words[0], err)
			return 1
		}
		return 0
	}
	if err := daemon.Run(ctx, cfg); err != nil {
		cfg.Logger.Error().Err(err).Msg("worker failed")
		return 1
	}
	return 0
}

// findSubcommand returns the subcommand args start with, and the
// arguments after its words; nil when they start with none.
func findSubcommand(args []string) (*subcommand, []string) {
	for i := range subcommands {
		s := &subcommands[i]
		if len(args) >= len(s.words) && slices.Equal(args[:len(s.words)], s.words) {
			return s, args[len(s.words):]
		}
	}
	return nil, args
}
