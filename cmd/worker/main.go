// Command worker is the bridge between NATS JetStream and the 1C-Connect
// API: it takes commands from connect.cmd.<Operation>, sends them in
// packets within the API's hourly quota, and publishes each command's
// result; with --feed it also follows change-tracked reads, publishing
// change events to connect.change.<Object> and keeping a mirror of the
// objects; with --export it walks the history reads through time,
// publishing their rows to connect.history.<Operation>. See the README
// for the contract.
//
//	worker [flags]                     run
//	worker quota [flags]               print the shared quota ledger of this window
//	worker feeds [flags]               print the change feeds
//	worker mirror get <Object> <id>    print one object's record in the mirror
//	worker mirror ls <Object>          print every object of a kind in the mirror
//	worker exports [flags]             print the history exports
//	worker export rerun <Operation> --from <time> --to <time>
//	                                   read a period of history again
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
	"time"
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
// flags, the flags of its own beside the worker's, and what it does.
type subcommand struct {
	words []string
	args  int
	what  string // "<Object> <id>", for errors
	// flags are its own string flags, name to help; do gets their values
	// by name (empty when not given).
	flags map[string]string
	do    func(ctx context.Context, cfg daemon.Config, args []string, flags map[string]string, stdout, stderr io.Writer) error
}

var subcommands = []subcommand{
	{words: []string{"quota"}, do: func(ctx context.Context, cfg daemon.Config, _ []string, _ map[string]string, stdout, _ io.Writer) error {
		return daemon.PrintQuota(ctx, cfg, stdout)
	}},
	{words: []string{"feeds"}, do: func(ctx context.Context, cfg daemon.Config, _ []string, _ map[string]string, stdout, _ io.Writer) error {
		return daemon.PrintFeeds(ctx, cfg, stdout)
	}},
	{words: []string{"mirror", "get"}, args: 2, what: "<Object> <id>", do: func(ctx context.Context, cfg daemon.Config, a []string, _ map[string]string, stdout, _ io.Writer) error {
		return daemon.PrintMirrorRecord(ctx, cfg, stdout, a[0], a[1])
	}},
	{words: []string{"mirror", "ls"}, args: 1, what: "<Object>", do: func(ctx context.Context, cfg daemon.Config, a []string, _ map[string]string, stdout, stderr io.Writer) error {
		return daemon.PrintMirrorList(ctx, cfg, stdout, stderr, a[0])
	}},
	{words: []string{"exports"}, do: func(ctx context.Context, cfg daemon.Config, _ []string, _ map[string]string, stdout, _ io.Writer) error {
		return daemon.PrintExports(ctx, cfg, stdout)
	}},
	{words: []string{"export", "rerun"}, args: 1, what: "<Operation or export> --from <time> --to <time>",
		flags: map[string]string{
			"from": "export rerun: the start of the period read again (included): RFC 3339, or 2006-01-02[T15:04:05] in the account's zone (--quota-tz)",
			"to":   "export rerun: the end of the period read again (excluded), as --from",
		},
		do: rerunExport},
}

// rerunExport is `worker export rerun`: the period's bounds read in the
// account's zone, its log on stderr (stdout gets the result).
func rerunExport(ctx context.Context, cfg daemon.Config, a []string, flags map[string]string, stdout, stderr io.Writer) error {
	loc := cfg.Quota.Windows.Location
	var bounds [2]time.Time
	for i, name := range []string{"from", "to"} {
		if flags[name] == "" {
			return usageError{fmt.Errorf("export rerun: --%s is required", name)}
		}
		t, err := parseTime(flags[name], loc)
		if err != nil {
			return usageError{fmt.Errorf("export rerun: --%s: %w", name, err)}
		}
		bounds[i] = t
	}
	cfg.Logger = cfg.Logger.Output(stderr)
	return daemon.RerunExport(ctx, cfg, a[0], bounds[0], bounds[1], stdout)
}

// usageError is a subcommand's error in its command line: exit status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// timeLayouts are the forms a time of the command line takes: with its
// offset, or a wall clock of the account's zone.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"}

// parseTime reads a time of the command line: RFC 3339, or
// 2006-01-02[T15:04:05] in loc.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-01-02T15:04:05+03:00) or 2006-01-02[T15:04:05] in the account's zone", s)
}

// run runs the worker, or one of the subcommands, and returns the exit
// status: 0, 1 when it failed, 2 for a bad command line.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	sub, args := findSubcommand(args)
	if sub == nil && len(args) > 0 && args[0] == "mirror" {
		fmt.Fprintln(stderr, "worker: mirror get <Object> <id> or mirror ls <Object>")
		return 2
	}
	if sub == nil && len(args) > 0 && args[0] == "export" {
		fmt.Fprintln(stderr, "worker: export rerun <Operation or export> --from <time> --to <time>")
		return 2
	}
	// The subcommand's own arguments come before the flags (or after).
	var pos []string
	if sub != nil {
		for len(args) > 0 && len(pos) < sub.args && (args[0] == "" || args[0][0] != '-') {
			pos, args = append(pos, args[0]), args[1:]
		}
	}
	var own map[string]*string
	var extra func(*flag.FlagSet)
	if sub != nil && len(sub.flags) > 0 {
		own = map[string]*string{}
		extra = func(fs *flag.FlagSet) {
			for name, help := range sub.flags {
				own[name] = fs.String(name, "", help)
			}
		}
	}
	cfg, rest, err := parseArgs(args, getenv, stderr, extra)
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
		flags := make(map[string]string, len(own))
		for name, p := range own {
			flags[name] = *p
		}
		if err := sub.do(ctx, cfg, pos, flags, stdout, stderr); err != nil {
			if errors.As(err, new(usageError)) {
				fmt.Fprintln(stderr, "worker:", err)
				return 2
			}
			fmt.Fprintf(stderr, "worker %s: %v\n", sub.words[0], err)
			return 1
		}
		return 0
	}
	// Traces go nowhere unless the OTEL_* variables name an exporter.
	tp, shutdown, err := daemon.TracerProvider(ctx, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	}()
	cfg.Worker.Tracer = tp
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
