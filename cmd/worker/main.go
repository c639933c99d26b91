// Command worker is the bridge between NATS JetStream and the 1C-Connect
// API: it takes commands from connect.cmd.<Operation>, sends them in
// packets within the API's hourly quota, and publishes each command's
// result. See the README for the contract.
//
//	worker [flags]         run
//	worker quota [flags]   print the shared quota ledger of this window
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // --quota-tz works on images without a time zone database

	"github.com/onec-connect/connect-bridge/internal/daemon"
)

func main() {
	// `worker quota [flags]` prints the shared quota ledger and exits.
	args, quota := os.Args[1:], false
	if len(args) > 0 && args[0] == "quota" {
		args, quota = args[1:], true
	}
	cfg, err := parseFlags(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if quota {
		if err := daemon.PrintQuota(ctx, cfg, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker quota:", err)
			os.Exit(1)
		}
		return
	}
	if err := daemon.Run(ctx, cfg); err != nil {
		cfg.Logger.Error().Err(err).Msg("worker failed")
		os.Exit(1)
	}
}
