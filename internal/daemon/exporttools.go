package daemon

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// The tools of the history exports: `worker exports`, which only reads
// (the markers, the leases, the quota ledger), and `worker export rerun`,
// which reads a period of history again: it calls the API and publishes
// rows, so unlike the other tools it writes (the rows, the quota ledger's
// counts; never a marker).

// PrintExports prints the exports as every replica sees them, one line
// each: the exports of cfg (their read, interval and chunk known, so
// what is left and when it will be done), then any other export whose
// state is stored (its state only). Times are in the quota's time zone;
// the estimate reads the shared quota ledger's current window, unless
// the workers keep their ledgers in memory (--local-quota).
func PrintExports(ctx context.Context, cfg Config, w io.Writer) error {
	nc, js, err := toolConn(cfg, "connect-worker-exports")
	if err != nil {
		return err
	}
	defer nc.Close()
	exports := slices.Clone(cfg.Exports.Exports)
	var known []string
	for _, x := range exports {
		known = append(known, cmp.Or(x.Name, x.Op))
	}
	others, err := storedOthers(ctx, js, export.MarkerBucket, "export", known)
	if err != nil {
		return err
	}
	for _, k := range others {
		exports = append(exports, export.Export{Name: k})
	}
	if len(exports) == 0 {
		_, err := fmt.Fprintln(w, "No export is configured (--export, EXPORTS, the config file's exports) and none is stored.")
		return err
	}
	rcfg := quota.ReaderConfig{Config: cfg.Quota.limiterConfig()}
	if !cfg.Quota.Local {
		rcfg.JetStream = js
	}
	budget, err := quota.NewReader(rcfg)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	now := time.Now()
	st, err := export.Status(ctx, js, export.StatusConfig{Exports: exports, Share: cfg.Exports.Share, Budget: budget}, now)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return writeExports(w, st, now, cmp.Or(cfg.Quota.Windows.Location, quota.MoscowTime()))
}

// maxFailedRunes bounds the reason a chunk failed in the table: it may
// quote the service's fault.
const maxFailedRunes = 120

// writeExports writes the table of `worker exports`.
func writeExports(w io.Writer, st []export.ExportStatus, now time.Time, loc *time.Location) error {
	fmt.Fprintf(w, "exports at %s (times in %s)\n\n", now.In(loc).Format("2006-01-02 15:04:05 MST"), loc)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "EXPORT\tOPERATION\tINTERVAL\tMARKER\tLEFT\tCHUNKS\tNEXT READ\tDONE BY\tCALLS/H\tROWS\tPUBLISHED\tHELD\tFAILED")
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04:05")
	}
	noLedger := false
	for _, s := range st {
		op, interval, left, chunks, next, done, perHour := cmp.Or(s.Op, "?"), "?", "-", "-", "-", "-", "-"
		if s.Interval > 0 {
			interval = time.Duration(s.Interval).String()
		}
		if s.Op != "" && !s.Marker.IsZero() {
			left, chunks = span(s.Left), fmt.Sprint(s.Chunks)
			switch {
			case s.Interval == 0:
			case s.NextRead.IsZero():
				next = "as granted" // behind: it reads as soon as the quota grants
			case s.NextRead.After(now):
				next = "in " + s.NextRead.Sub(now).Round(time.Second).String()
			default:
				next = "due"
			}
		}
		if e := s.Estimate; e != nil && !s.Marker.IsZero() {
			perHour = fmt.Sprintf("%g", e.PerHour)
			switch {
			case e.Calls == 0:
				done = "done"
			case e.Finish.IsZero():
				done = "never at these limits"
			default:
				done = at(e.Finish)
			}
			if !e.Ledger {
				done += " *"
				noLedger = true
			}
		}
		held := "no"
		if s.Held {
			held = "yes"
		}
		failed := "-"
		if s.Failed != "" {
			failed = at(s.FailedAt) + ": " + oneLine(s.Failed, maxFailedRunes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, op, interval, at(s.Marker), left, chunks,
			next, done, perHour, s.Rows, s.Published, held, failed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nMARKER: the end of the last chunk whose rows are all stored. LEFT: from the marker to now less the settle, in CHUNKS of the export's chunk. "+
		"DONE BY: when the last of those chunks can be read at the current limits (CALLS/H: the exports' share of the read's limit in the next window). HELD: a replica reads the export now.")
	if noLedger {
		fmt.Fprintln(w, "* the shared quota ledger was not read (the workers keep theirs in memory, or none has run): this window is taken as unused.")
	}
	return nil
}

// span writes a length of history to read: days and hours from two days
// on, the duration below.
func span(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Round(time.Second).String()
	}
	days, hours := d/(24*time.Hour), (d%(24*time.Hour)).Round(time.Hour)/time.Hour
	return fmt.Sprintf("%dd%dh", days, hours)
}

// oneLine is s on one line of at most n runes: a reason that may quote the
// service must not move a terminal's cursor nor break the table.
func oneLine(s string, n int) string {
	var b strings.Builder
	runes := 0
	for _, r := range s {
		if runes == n {
			b.WriteString("…")
			break
		}
		if !unicode.IsGraphic(r) || r == '\t' {
			r = ' '
		}
		b.WriteRune(r)
		runes++
	}
	return b.String()
}

// RerunExport reads [from, to) of an export's history again and publishes
// its rows, as `worker export rerun` does, then writes what it did to w.
// name is one of cfg's exports (by name, or by operation), or else any
// read of a period, read with the defaults. Calls come from the exports'
// share of the quota (the shared ledger, unless --local-quota), waited
// for as it grants them, so a long period takes as long as the quota
// says; rows already in the history stream within its duplicate window
// are dropped by it, so a rerun of an exported range publishes nothing
// new. No marker is moved.
func RerunExport(ctx context.Context, cfg Config, name string, from, to time.Time, w io.Writer) error {
	if err := cfg.Exports.validate(cfg); err != nil {
		return err
	}
	name, err := rerunName(cfg.Exports.Exports, name)
	if err != nil {
		return err
	}
	password, err := connectPassword(cfg)
	if err != nil {
		return err
	}
	nc, _, err := toolConn(cfg, "connect-worker-export-rerun")
	if err != nil {
		return err
	}
	defer nc.Close()
	client, err := apiClient(cfg, password)
	if err != nil {
		return err
	}
	defer client.Close()
	lim, err := newLimiter(ctx, nc, cfg, cfg.Quota.limiterConfig())
	if err != nil {
		return err
	}
	ecfg := cfg.Exports.config(cfg, nc, client, lim, prometheus.NewRegistry(), cfg.Logger)
	r, err := export.New(ecfg)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	loc := cmp.Or(cfg.Quota.Windows.Location, quota.MoscowTime())
	began := time.Now()
	res, err := r.Rerun(ctx, name, from, to)
	fmt.Fprintf(w, "rerun of %s from %s to %s (%s): %d chunks in %d calls, %d rows read: %d published, %d already in %s (dropped as duplicates), in %s\n",
		name, from.In(loc).Format(time.RFC3339), to.In(loc).Format(time.RFC3339), loc, res.Chunks, res.Calls, res.Rows, res.Published, res.Duplicates,
		export.HistoryStream, time.Since(began).Round(time.Millisecond))
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// rerunName is the export a rerun of name reads: the export so named, or
// else the one export of the operation name (its settings, filters and
// chunk, are used), or else name itself (a read with the defaults). An
// operation of several exports, none of them named for it, is refused:
// which one's filters to read with cannot be guessed.
func rerunName(exports []export.Export, name string) (string, error) {
	var of []string
	for _, x := range exports {
		if cmp.Or(x.Name, x.Op) == name {
			return name, nil
		}
		if x.Op == name {
			of = append(of, x.Name)
		}
	}
	switch len(of) {
	case 0:
		return name, nil
	case 1:
		return of[0], nil
	}
	return "", fmt.Errorf("daemon: %s is read by %d exports (%s): name one of them", name, len(of), strings.Join(of, ", "))
}
