package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
)

// dlqCmd is `enqueue dlq ls|show|replay|purge`, built on the SDK's
// dead-letter functions (connect.DeadLetters, Replay, PurgeDeadLetters).
type dlqCmd struct {
	verb string // ls, show, replay or purge
	// arg is the dead letter named by id or sequence (show, replay,
	// purge), or ls's operation.
	arg    string
	code   string
	after  uint64
	limit  int
	force  bool
	yes    bool
	delete bool
	// fieldsFile is replay's -fields: a JSON object of fields to set over
	// the stored ones (a redacted Password), read from a file, never
	// from the command line where ps would show it.
	fieldsFile string
	stream     string
	prefix     string
	replyTo    string
	// now tells the time for ages; stdin is read for -fields -.
	now   func() time.Time
	stdin io.Reader
}

// dlqVerbs are the words after dlq.
var dlqVerbs = []string{"ls", "show", "replay", "purge"}

// parseDLQ reads `enqueue dlq <verb> …`, whose flags may come before and
// after its words (the connection's before dlq too).
func parseDLQ(cfg config, fs *flag.FlagSet, pos []string, set map[string]bool, getenv func(string) string, out io.Writer) (config, error) {
	for _, name := range append([]string{"f", "format", "subject-prefix", "allow-unknown", "wait", "max-pending"}, quotaFlagNames...) {
		if set[name] {
			return cfg, fmt.Errorf("enqueue: -%s does not apply to dlq", name)
		}
	}
	if len(pos) < 2 || !contains(dlqVerbs, pos[1]) {
		return cfg, fmt.Errorf("enqueue: dlq: give one of %s", strings.Join(dlqVerbs, ", "))
	}
	dc := &dlqCmd{verb: pos[1], now: time.Now}
	dfs := flag.NewFlagSet("enqueue dlq "+dc.verb, flag.ContinueOnError)
	dfs.SetOutput(out)
	commonFlags(dfs, &cfg)
	dfs.StringVar(&dc.code, "code", "", "only dead letters of this result `code` (TRANSPORT_ERROR…)")
	dfs.StringVar(&dc.stream, "dlq-stream", contract.DLQStream, "the dead-letter `stream`")
	dfs.StringVar(&dc.prefix, "dlq-prefix", contract.DLQPrefix, "its subject `prefix`, followed by the operation")
	switch dc.verb {
	case "ls":
		dfs.Uint64Var(&dc.after, "after", 0, "only dead letters after this stream `sequence` (the next page)")
		dfs.IntVar(&dc.limit, "limit", 100, "most dead letters listed")
	case "replay":
		dfs.BoolVar(&dc.force, "force", false, "replay commands that may have been processed (UNKNOWN_OUTCOME, POISON) of operations not safe to send twice")
		dfs.BoolVar(&dc.delete, "delete", false, "delete each dead letter whose replay succeeded")
		dfs.StringVar(&dc.fieldsFile, "fields", "", "a `file` (- for stdin) with a JSON object of fields set over the stored ones: the values of redacted fields")
		dfs.StringVar(&dc.replyTo, "reply-prefix", "", "receive the replays' results under this subject `prefix` (e.g. connect.reply.admin) instead of an inbox")
		dfs.IntVar(&dc.limit, "limit", 100, "most dead letters replayed by -op or -code")
	case "purge":
		dfs.BoolVar(&dc.yes, "yes", false, "delete; without it, say how many would be deleted")
	}
	// Defining the flags again set them to their defaults: those given
	// before dlq are given again.
	var err error
	fs.Visit(func(f *flag.Flag) {
		if dfs.Lookup(f.Name) != nil && err == nil {
			err = dfs.Set(f.Name, f.Value.String())
		}
	})
	if err != nil {
		return cfg, err
	}
	rest, err := parseInterleaved(dfs, pos[2:])
	if err != nil {
		return cfg, err
	}
	dfs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := applyEnv(dfs, set, getenv); err != nil {
		return cfg, err
	}
	if _, err := natsconn.ConnectOptions(cfg.conn); err != nil {
		return cfg, err
	}
	if cfg.client.Timeout <= 0 {
		return cfg, fmt.Errorf("enqueue: --timeout %s: want a positive duration", cfg.client.Timeout)
	}
	if len(rest) > 1 {
		return cfg, fmt.Errorf("enqueue: dlq %s: one argument at most, got %d", dc.verb, len(rest))
	}
	if len(rest) == 1 {
		dc.arg = rest[0]
	}
	switch {
	case dc.verb == "ls" && dc.arg != "" && cfg.op != "" && dc.arg != cfg.op:
		return cfg, errors.New("enqueue: dlq ls: the operation given twice")
	case dc.verb == "ls" && dc.arg != "":
		cfg.op, dc.arg = dc.arg, ""
	case dc.verb == "show" && dc.arg == "":
		return cfg, errors.New("enqueue: dlq show: give a dead letter's id or sequence")
	case dc.verb == "replay" && dc.arg == "" && cfg.op == "" && dc.code == "":
		return cfg, errors.New("enqueue: dlq replay: give a dead letter's id or sequence, or -op or -code")
	case dc.limit < 0:
		return cfg, fmt.Errorf("enqueue: dlq %s: -limit %d: want 0 or more", dc.verb, dc.limit)
	}
	if dc.limit > connect.MaxDeadLetters {
		return cfg, fmt.Errorf("enqueue: dlq %s: -limit %d: want at most %d", dc.verb, dc.limit, connect.MaxDeadLetters)
	}
	cfg.dlq = dc
	return cfg, nil
}

// applyEnv sets each flag of fs that has an environment variable, was
// not given, and whose variable is set.
func applyEnv(fs *flag.FlagSet, set map[string]bool, getenv func(string) string) error {
	if set["s"] {
		set["server"] = true
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v := getenv(env); env != "" && v != "" && !set[f.Name] && err == nil {
			err = fs.Set(f.Name, v)
		}
	})
	if err != nil {
		return fmt.Errorf("enqueue: environment: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runDLQ runs one dlq command on nc.
func runDLQ(ctx context.Context, nc *nats.Conn, cfg config, stdout, stderr io.Writer) error {
	dc := cfg.dlq
	opts := []connect.Option{connect.WithDeadLetterStream(dc.stream, dc.prefix), connect.WithOutcomeBucket(cfg.client.Bucket)}
	if dc.replyTo != "" {
		opts = append(opts, connect.WithReplyPrefix(dc.replyTo))
	}
	c, err := connect.New(nc, opts...)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(ctx, cfg.client.Timeout)
	defer cancel()
	f := connect.DLQFilter{Op: cfg.op, Code: dc.code, After: dc.after}
	switch dc.verb {
	case "ls":
		f.Limit = dc.limit
		dls, err := c.DeadLetters(ctx, f)
		if err != nil {
			return err
		}
		return writeTable(stdout, dls, dc.now())
	case "show":
		dl, err := resolve(ctx, c, dc.arg, f)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(showView(dl), "", "  ")
		if err != nil {
			return fmt.Errorf("enqueue: dlq show: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	case "replay":
		return replay(ctx, c, dc, f, stdout, stderr)
	default:
		return purge(ctx, c, dc, f, stdout)
	}
}

// resolve finds the one dead letter arg names: a command id, or a
// stream sequence when it is a number. A number that is both, or an id
// of several dead letters (of several operations, or dead-lettered
// twice), is refused with the candidates.
func resolve(ctx context.Context, c *connect.Client, arg string, f connect.DLQFilter) (connect.DeadLetter, error) {
	var found []connect.DeadLetter
	if contract.ValidID(arg) == nil {
		f.ID = arg
		byID, err := c.DeadLetters(ctx, f)
		if err != nil {
			return connect.DeadLetter{}, err
		}
		found = byID
	}
	if seq, err := strconv.ParseUint(arg, 10, 64); err == nil && seq > 0 {
		dl, err := c.DeadLetter(ctx, seq)
		switch {
		case errors.Is(err, connect.ErrDeadLetterNotFound):
		case err != nil:
			return connect.DeadLetter{}, err
		case (f.Op == "" || dl.Op == f.Op) && (f.Code == "" || dl.Code == f.Code) && (len(found) == 0 || found[0].Seq != seq):
			found = append(found, dl)
		}
	}
	switch len(found) {
	case 0:
		return connect.DeadLetter{}, fmt.Errorf("enqueue: dlq: no dead letter has the id or sequence %q", boundLine(arg, 64))
	case 1:
		return found[0], nil
	}
	var b strings.Builder
	for _, dl := range found {
		fmt.Fprintf(&b, "\n  seq %d: %s %s %s", dl.Seq, dl.Op, boundLine(dl.ID, 64), dl.Code)
	}
	return connect.DeadLetter{}, fmt.Errorf("enqueue: dlq: %q names %d dead letters; give the sequence (or -op):%s", boundLine(arg, 64), len(found), b.String())
}

// replay replays the dead letter dc.arg names, or every one f selects.
func replay(ctx context.Context, c *connect.Client, dc *dlqCmd, f connect.DLQFilter, stdout, stderr io.Writer) error {
	var opts []connect.ReplayOption
	if dc.force {
		opts = append(opts, connect.WithForce())
	}
	if dc.fieldsFile != "" {
		fields, err := readFields(dc.fieldsFile, dc.stdin)
		if err != nil {
			return err
		}
		opts = append(opts, connect.ReplayWithFields(fields))
	}
	var dls []connect.DeadLetter
	if dc.arg != "" {
		dl, err := resolve(ctx, c, dc.arg, f)
		if err != nil {
			return err
		}
		dls = []connect.DeadLetter{dl}
	} else {
		f.Limit = dc.limit
		var err error
		if dls, err = c.DeadLetters(ctx, f); err != nil {
			return err
		}
	}
	// All published first, then waited for: their packets fill together.
	type sent struct {
		dl connect.DeadLetter
		p  *connect.Pending
	}
	var all []sent
	failed := 0
	for _, dl := range dls {
		p, err := c.SubmitReplay(ctx, dl, opts...)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "%d\t%s\t%s\tnot replayed: %v\n", dl.Seq, dl.Op, boundLine(dl.ID, 64), err)
			continue
		}
		all = append(all, sent{dl, p})
	}
	for _, s := range all {
		res, err := s.p.Wait(ctx)
		var re *connect.ResultError
		switch {
		case err == nil:
			line := fmt.Sprintf("%d\t%s\t%s\treplayed as %s: %s", s.dl.Seq, s.dl.Op, boundLine(s.dl.ID, 64), res.ID, res.Code)
			if dc.delete {
				if derr := c.DeleteDeadLetter(ctx, s.dl.Seq); derr != nil {
					line += fmt.Sprintf(" (dead letter not deleted: %v)", derr)
				} else {
					line += " (dead letter deleted)"
				}
			}
			fmt.Fprintln(stdout, line)
		case errors.As(err, &re):
			failed++
			fmt.Fprintf(stdout, "%d\t%s\t%s\treplayed as %s: %s: %s\n", s.dl.Seq, s.dl.Op, boundLine(s.dl.ID, 64), res.ID, res.Code, boundLine(res.Message, 200))
		default:
			failed++
			fmt.Fprintf(stdout, "%d\t%s\t%s\treplayed as %s: no result: %v\n", s.dl.Seq, s.dl.Op, boundLine(s.dl.ID, 64), s.p.ID(), err)
		}
	}
	fmt.Fprintf(stderr, "enqueue: dlq replay: %d dead letters, %d replayed with SUCCESS, %d not\n", len(dls), len(dls)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("enqueue: dlq replay: %d of %d not replayed with SUCCESS", failed, len(dls))
	}
	return nil
}

// maxFieldsFile bounds -fields: a few field values, not a data set.
const maxFieldsFile = 1 << 20

// readFields reads a JSON object of fields from path (- for stdin). The
// error never quotes the file's content.
func readFields(path string, stdin io.Reader) (map[string]any, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("enqueue: dlq replay: -fields: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxFieldsFile+1))
	if err != nil {
		return nil, fmt.Errorf("enqueue: dlq replay: -fields: %w", err)
	}
	if len(b) > maxFieldsFile {
		return nil, fmt.Errorf("enqueue: dlq replay: -fields: more than %d bytes", maxFieldsFile)
	}
	// Read as a command's fields are, by the contract's rules.
	cmd, err := contract.DecodeCommand(contract.JSON, append(append([]byte(`{"id":"fields","fields":`), b...), '}'))
	if err != nil {
		return nil, fmt.Errorf("enqueue: dlq replay: -fields: want a JSON object of fields: %w", err)
	}
	return cmd.Fields, nil
}

// purge deletes the dead letter dc.arg names, or every one f selects;
// without -yes it only counts them.
func purge(ctx context.Context, c *connect.Client, dc *dlqCmd, f connect.DLQFilter, stdout io.Writer) error {
	if dc.arg != "" {
		dl, err := resolve(ctx, c, dc.arg, f)
		if err != nil {
			return err
		}
		if !dc.yes {
			return fmt.Errorf("enqueue: dlq purge: would delete dead letter %d (%s %s); add -yes to delete it", dl.Seq, dl.Op, boundLine(dl.ID, 64))
		}
		if err := c.DeleteDeadLetter(ctx, dl.Seq); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "deleted dead letter %d (%s %s)\n", dl.Seq, dl.Op, boundLine(dl.ID, 64))
		return err
	}
	if !dc.yes {
		n := 0
		for {
			page, err := c.DeadLetters(ctx, connect.DLQFilter{Op: f.Op, Code: f.Code, After: f.After, Limit: connect.MaxDeadLetters})
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			n += len(page)
			f.After = page[len(page)-1].Seq
		}
		return fmt.Errorf("enqueue: dlq purge: would delete %d dead letters%s; add -yes to delete them", n, describe(f))
	}
	n, err := c.PurgeDeadLetters(ctx, connect.DLQFilter{Op: f.Op, Code: f.Code})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "deleted %d dead letters%s\n", n, describe(f))
	return err
}

// describe names a filter for a message: "" for all.
func describe(f connect.DLQFilter) string {
	var parts []string
	if f.Op != "" {
		parts = append(parts, "of "+f.Op)
	}
	if f.Code != "" {
		parts = append(parts, "with code "+boundLine(f.Code, 64))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// writeTable writes dls as a table: seq, id, op, code, reason (one line,
// bounded) and age at now.
func writeTable(w io.Writer, dls []connect.DeadLetter, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tID\tOP\tCODE\tREASON\tAGE")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", dl.Seq, boundLine(dl.ID, 40), dl.Op, boundLine(dl.Code, 32), boundLine(dl.Reason, 80), age(now.Sub(dl.Time)))
	}
	return tw.Flush()
}

// boundLine makes s one line of at most n characters: control and
// format characters become spaces (a reason written from a producer's
// input must not rewrite the terminal), and a cut is marked.
func boundLine(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			r = ' '
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}

// age writes d briefly: 45s, 12m, 3h05m, 4d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// maxShownPayload bounds the payload dlq show prints of a dead letter
// whose payload could not be read.
const maxShownPayload = 4096

// dlqView is what dlq show prints: the dead letter, its format, and its
// payload as text when it could not be read as a command.
type dlqView struct {
	connect.DeadLetter
	Format  string `json:"format"`
	Payload string `json:"payload,omitempty"`
}

func showView(dl connect.DeadLetter) dlqView {
	v := dlqView{DeadLetter: dl, Format: "json"}
	if dl.Format == connect.MsgPack {
		v.Format = "msgpack"
	}
	if dl.Fields == nil && len(dl.Payload) > 0 {
		p := dl.Payload
		if len(p) > maxShownPayload {
			p = p[:maxShownPayload]
		}
		v.Payload = strings.ToValidUTF8(string(p), "�")
		if len(dl.Payload) > maxShownPayload {
			v.Payload += fmt.Sprintf("… (%d bytes in all)", len(dl.Payload))
		}
	}
	return v
}
