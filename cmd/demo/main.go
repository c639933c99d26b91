// Command demo is the helper of `make run` (scripts/demo.sh); its logic
// is package internal/demo.
//
//	demo commands            write the sample of commands (JSON lines) to stdout
//	demo users               print how many users the sandbox must seed for it
//	demo ports N             print N loopback addresses free right now
//	demo summary -commands F -results F -stats F -quota F -elapsed D
//	                         sum up the run; exit 1 unless every command got one result
//	demo edited-user         print the id of the user the sample's first edit changes
//	demo changes -s URL -timeout D
//	                         wait for the change feed to report the sample's first edit; print the events
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/demo"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
)

const usage = `Usage:
  demo commands            write the sample of commands (JSON lines) to stdout
  demo users               print how many users the sandbox must seed for it
  demo ports N             print N loopback addresses free right now
  demo summary -commands F -results F -stats F -quota F -elapsed D
                           sum up the run: F are the sample, enqueue -wait's
                           output, the sandbox's /stats and the output of
                           worker quota; D how long enqueue took. Exits 1
                           unless every command got exactly one result.
  demo edited-user         print the id of the user the sample's first edit changes
  demo changes -s URL -timeout D
                           read the change events (stream CONNECT_CHANGES)
                           until the feeds reported the edit the sample's
                           first command made and a change the sandbox's
                           churn made, and sum them up. Exits 1 when they
                           did not within D.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no subcommand")
	}
	switch args[0] {
	case "commands":
		return demo.DefaultPlan.Write(stdout)
	case "users":
		_, err := fmt.Fprintln(stdout, demo.DefaultPlan.SeedUsers())
		return err
	case "ports":
		if len(args) != 2 {
			return errors.New("ports: want a count")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 16 {
			return fmt.Errorf("ports: %q is not a count from 1 to 16", args[1])
		}
		return ports(stdout, n)
	case "summary":
		return summary(args[1:], stdout, stderr)
	case "changes":
		return changes(args[1:], stdout, stderr)
	case "edited-user":
		_, err := fmt.Fprintln(stdout, demo.EditedUser)
		return err
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func ports(w io.Writer, n int) error {
	addrs, err := demo.FreeAddrs(n)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, strings.Join(addrs, " "))
	return err
}

func summary(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo summary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var commands, results, stats, quota string
	var elapsed time.Duration
	fs.StringVar(&commands, "commands", "", "the sample sent (JSON lines)")
	fs.StringVar(&results, "results", "", "enqueue -wait's output (JSON lines)")
	fs.StringVar(&stats, "stats", "", "the sandbox's /stats (JSON)")
	fs.StringVar(&quota, "quota", "", "the output of `worker quota`")
	fs.DurationVar(&elapsed, "elapsed", 0, "how long enqueue took")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var in demo.Inputs
	in.Elapsed = elapsed
	read := func(path, what string, fn func(io.Reader) error) error {
		if path == "" {
			return fmt.Errorf("summary: -%s is required", what)
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("summary: %w", err)
		}
		defer f.Close()
		return fn(f)
	}
	err := errors.Join(
		read(commands, "commands", func(r io.Reader) (err error) { in.Commands, err = demo.ReadCommands(r); return }),
		read(results, "results", func(r io.Reader) (err error) { in.Results, err = demo.ReadResults(r); return }),
		read(stats, "stats", func(r io.Reader) (err error) { in.Stats, err = demo.ReadStats(r); return }),
		read(quota, "quota", func(r io.Reader) (err error) { in.Quota, err = demo.ParseQuota(r); return }),
	)
	if err != nil {
		return err
	}
	s, err := demo.Summarize(in)
	if err != nil {
		return err
	}
	return s.Write(stdout)
}

func changes(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo changes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("s", "", "the NATS server")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait for the edit's event")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, err := natsconn.Connect(natsconn.ConnFlags{Server: *url, Name: "connect-demo"})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	events, err := demo.WaitChanges(ctx, js, demo.Shown)
	if err != nil {
		return fmt.Errorf("changes: %d events, not the edit of %s and a change of the sandbox's cabinet after %s: %w", len(events), demo.EditedUser, *timeout, err)
	}
	return demo.SummarizeChanges(events, demo.DefaultPlan.SeedUsers()).Write(stdout)
}
