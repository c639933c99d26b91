package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// The tools below (worker quota, worker feeds, worker mirror) read what
// running workers keep in JetStream, with the worker's own settings, and
// never write: they create no stream, bucket or key.

// toolConn connects a tool to the NATS the worker of cfg uses: its URL
// and credentials, or the embedded server's address when no URL is given.
// The caller closes the connection.
func toolConn(cfg Config, name string) (*nats.Conn, jetstream.JetStream, error) {
	url := cfg.NATS.Server
	if url == "" {
		// A worker started without a NATS URL runs its own server there.
		url = "nats://" + cmp.Or(cfg.EmbeddedListen, "127.0.0.1:4222")
	}
	flags := cfg.NATS
	flags.Server = url
	flags.Name = name
	nc, err := natsconn.Connect(flags)
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	return nc, js, nil
}

// PrintQuota prints the shared ledger of the current window as a table:
// every operation that made calls or is spent, then a count of the rest.
func PrintQuota(ctx context.Context, cfg Config, w io.Writer) error {
	nc, js, err := toolConn(cfg, "connect-worker-quota")
	if err != nil {
		return err
	}
	defer nc.Close()
	// Read only: looking at the ledger never creates the bucket nor
	// writes a key.
	q, err := quota.NewReader(quota.ReaderConfig{Config: cfg.Quota.limiterConfig(), JetStream: js})
	if err != nil {
		return err
	}
	ops := cfg.Worker.Operations
	if len(ops) == 0 {
		ops = catalog.Names()
	}
	now := time.Now()
	st, err := q.Status(ctx, ops, now)
	if err != nil {
		return err
	}
	win := q.Windows()
	start := win.Start(now)
	fmt.Fprintf(w, "window %s – %s (%s), night hours: %s\n\n",
		start.Format("2006-01-02 15:04:05"), start.Add(win.Length).Format("15:04:05 MST"), win.Length, cmp.Or(win.Night.String(), "none"))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OPERATION\tLIMIT\tUSED\tREMAINING\tSTATE\tRESETS IN\t")
	idle := 0
	for _, s := range st {
		if s.Used == 0 && !s.Exhausted {
			idle++
			continue
		}
		state := "open"
		switch {
		case s.Exhausted:
			state = "OUT_OF_LIMIT"
		case s.Remaining() == 0:
			state = "spent"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", s.Op, s.Limit, s.Used, s.Remaining(), state, s.Reset.Sub(now).Round(time.Second))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d other operations made no call in this window.\n", idle)
	return nil
}

// storedOthers returns, sorted, the keys of a markers bucket (one per
// feed or export: what is named what) that are not among configured:
// those a replica ran with settings this tool was not given.
func storedOthers(ctx context.Context, js jetstream.JetStream, bucket, what string, configured []string) ([]string, error) {
	markers, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("daemon: no %s has run on this NATS yet (no bucket %s)", what, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: bucket %s: %w", bucket, err)
	}
	keys, err := markers.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("daemon: %ss stored: %w", what, err)
	}
	var others []string
	for k := range keys.Keys() {
		if !slices.Contains(configured, k) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	return others, nil
}
