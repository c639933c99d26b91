// Command enqueue publishes 1C-Connect commands to the connect-bridge
// worker over NATS JetStream and, with --wait, prints their results; its
// logic is package internal/enqueue. Run enqueue -h for usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\nRun 'enqueue -h' for usage.\n", err)
		os.Exit(2)
	}
	cfg.stdin = os.Stdin
	cfg.client.Stdout = os.Stdout
	cfg.client.Stderr = os.Stderr
	// The bars are for a person watching a file go: on a terminal that
	// can move its cursor.
	if cfg.file != "" && enqueue.IsTerminal(os.Stderr) && !strings.HasPrefix(os.Getenv("TERM"), "dumb") {
		cfg.client.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

// config is what the flags, arguments and environment configure.
type config struct {
	// conn is how to connect to NATS.
	conn natsconn.ConnFlags
	// client configures publishing and lookups; main sets its writers.
	client enqueue.Config
	// results selects `enqueue result`: look ids up instead of publishing.
	results bool
	// ids are the ids to look up.
	ids []string
	// op is --op: the operation of a whole file, or of the ids looked up.
	op string
	// file is -f: a JSON lines file, "-" for stdin; empty for arguments.
	file string
	// allowUnknown is --allow-unknown.
	allowUnknown bool
	// args are the commands of <Operation> <json> arguments.
	args enqueue.Source
	// stdin is read for -f -.
	stdin io.Reader
	// files is set for `enqueue put` and `enqueue get`.
	files *filesCmd
	// dlq is set for `enqueue dlq …`.
	dlq *dlqCmd
}

// filesCmd is `enqueue put <file>` or `enqueue get <reference>`.
type filesCmd struct {
	put    bool
	arg    string // the file to put, or the reference to get
	name   string // put: the object's name
	out    string // get: where to write, - for stdout
	bucket string
}

// envName returns the environment variable of a flag, or "" for flags
// without one: the connection's as the nats CLI names them, the quota's
// as the worker names them.
func envName(flag string) string {
	switch flag {
	case "quota-window", "quota-guard", "quota-reserve", "quota-tz":
		return strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
	case "night":
		return "QUOTA_NIGHT"
	case "server":
		return "NATS_URL"
	case "creds", "user", "password", "token", "nkey":
		return "NATS_" + strings.ToUpper(flag)
	case "tlscert":
		return "NATS_CERT"
	case "tlskey":
		return "NATS_KEY"
	case "tlsca":
		return "NATS_CA"
	}
	return ""
}

// parseConfig reads args and, for connection flags not on the command
// line, the environment through getenv. Help goes to out. Any error is a
// usage error, flag.ErrHelp after -h.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(out)
	commonFlags(fs, &cfg)
	c := &cfg.client
	fs.StringVar(&cfg.file, "f", "", "publish the commands of this JSON lines `file` (- for stdin)")
	fs.StringVar(&c.Format, "format", "json", "payload `format`: json or msgpack")
	fs.StringVar(&c.SubjectPrefix, "subject-prefix", contract.CommandPrefix, "command subject `prefix`, followed by the operation")
	fs.BoolVar(&cfg.allowUnknown, "allow-unknown", false, "publish operations that are not in the catalogue (the worker answers UNKNOWN_OPERATION)")
	fs.BoolVar(&c.Wait, "wait", false, "wait for each command's result and print it on stdout")
	fs.IntVar(&c.MaxPending, "max-pending", 4096, "most publishes in flight, not yet acknowledged")
	q := quotaFlags(fs, c)
	rfs := flag.NewFlagSet("enqueue result", flag.ContinueOnError)
	rfs.SetOutput(out)
	commonFlags(rfs, &cfg)
	fs.Usage = func() { usage(out, fs) }
	rfs.Usage = fs.Usage

	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pos := fs.Args()
	if len(pos) > 0 && (pos[0] == "put" || pos[0] == "get") {
		return parseFiles(cfg, pos, set, getenv, out)
	}
	if len(pos) > 0 && pos[0] == "dlq" {
		return parseDLQ(cfg, fs, pos, set, getenv, out)
	}
	if len(pos) > 0 && pos[0] == "result" {
		cfg.results = true
		for _, name := range append([]string{"f", "format", "subject-prefix", "allow-unknown", "wait", "max-pending"}, quotaFlagNames...) {
			if set[name] {
				return cfg, fmt.Errorf("enqueue: -%s does not apply to result", name)
			}
		}
		if err := rfs.Parse(pos[1:]); err != nil {
			return cfg, err
		}
		rfs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		pos = rfs.Args()
	}
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
		return cfg, fmt.Errorf("enqueue: environment: %w", err)
	}
	if _, err := natsconn.ConnectOptions(cfg.conn); err != nil {
		return cfg, err
	}
	if c.Timeout <= 0 {
		return cfg, fmt.Errorf("enqueue: --timeout %s: want a positive duration", c.Timeout)
	}
	if cfg.op != "" {
		if err := enqueue.CheckOperation(cfg.op, cfg.allowUnknown || cfg.results); err != nil {
			return cfg, fmt.Errorf("enqueue: --op: %w", err)
		}
	}

	if cfg.results {
		if len(pos) == 0 {
			return cfg, errors.New("enqueue: result: give the ids to look up")
		}
		cfg.ids = pos
		return cfg, nil
	}
	if _, err := enqueue.ParseFormat(c.Format); err != nil {
		return cfg, err
	}
	if c.MaxPending < 1 {
		return cfg, fmt.Errorf("enqueue: --max-pending %d: want at least 1", c.MaxPending)
	}
	if c.Quota, err = q.config(c); err != nil {
		return cfg, err
	}
	if c.CallTime < 0 {
		return cfg, fmt.Errorf("enqueue: --call-time %s: want a duration of 0 or more", c.CallTime)
	}
	for op, n := range c.MaxRows {
		if n < 1 {
			return cfg, fmt.Errorf("enqueue: --max-rows %s=%d: want at least 1", op, n)
		}
	}
	if cfg.file != "" {
		if len(pos) > 0 {
			return cfg, fmt.Errorf("enqueue: -f and command arguments %q do not go together", pos)
		}
		return cfg, nil
	}
	for i := 0; i < len(pos); i += 2 {
		if strings.HasPrefix(pos[i], "-") {
			return cfg, fmt.Errorf("enqueue: flag %s after a command: flags go before the first operation", pos[i])
		}
	}
	if cfg.op != "" {
		return cfg, errors.New("enqueue: --op names the operation of a -f file or of result; with arguments give <Operation> '<json>' pairs")
	}
	cfg.args, err = enqueue.ParseArgs(pos, cfg.allowUnknown)
	return cfg, err
}

// parseFiles reads `enqueue put` and `enqueue get`, whose flags come
// after their word (the connection's may come before too).
func parseFiles(cfg config, pos []string, set map[string]bool, getenv func(string) string, out io.Writer) (config, error) {
	for _, name := range append([]string{"f", "format", "subject-prefix", "allow-unknown", "wait", "max-pending", "op"}, quotaFlagNames...) {
		if set[name] {
			return cfg, fmt.Errorf("enqueue: -%s does not apply to %s", name, pos[0])
		}
	}
	fc := &filesCmd{put: pos[0] == "put"}
	ffs := flag.NewFlagSet("enqueue "+pos[0], flag.ContinueOnError)
	ffs.SetOutput(out)
	// Defining the flags writes their defaults: keep what the flags
	// before the word set.
	before := cfg
	commonFlags(ffs, &cfg)
	cfg.conn, cfg.op = before.conn, before.op
	cfg.client.Timeout, cfg.client.Bucket, cfg.client.ResultStream = before.client.Timeout, before.client.Bucket, before.client.ResultStream
	ffs.StringVar(&fc.bucket, "files-bucket", files.DefaultBucket, "the files `bucket` (Object Store)")
	if fc.put {
		ffs.StringVar(&fc.name, "name", "", "the object's `name` (default uploads/<unique>/<the file's name>)")
	} else {
		ffs.StringVar(&fc.out, "o", "", "write the object to this `file` (- for stdout); required")
	}
	// Its flags may come after the file or reference too.
	rest, err := parseInterleaved(ffs, pos[1:])
	if err != nil {
		return cfg, err
	}
	ffs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["s"] {
		set["server"] = true
	}
	ffs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v := getenv(env); env != "" && v != "" && !set[f.Name] && err == nil {
			err = ffs.Set(f.Name, v)
		}
	})
	if err != nil {
		return cfg, fmt.Errorf("enqueue: environment: %w", err)
	}
	if _, err := natsconn.ConnectOptions(cfg.conn); err != nil {
		return cfg, err
	}
	switch {
	case len(rest) != 1 && fc.put:
		return cfg, errors.New("enqueue: put: give one file")
	case len(rest) != 1:
		return cfg, errors.New(`enqueue: get: give one reference ({"$object": …}, as a result carries it) or an object's name`)
	case !fc.put && fc.out == "":
		return cfg, errors.New("enqueue: get: -o <file> is required (- for stdout)")
	}
	fc.arg = rest[0]
	cfg.files = fc
	return cfg, nil
}

// commonFlags defines the flags of both publishing and result: the
// connection, names and timeout.
func commonFlags(fs *flag.FlagSet, cfg *config) {
	cf, c := &cfg.conn, &cfg.client
	fs.StringVar(&cf.Server, "server", natsconn.DefaultServer, "NATS server `URLs`, comma-separated")
	fs.StringVar(&cf.Server, "s", natsconn.DefaultServer, "shorthand for -server")
	fs.StringVar(&cf.Creds, "creds", "", "user credentials `file`")
	fs.StringVar(&cf.User, "user", "", "user name")
	fs.StringVar(&cf.Password, "password", "", "password (never printed)")
	fs.StringVar(&cf.Token, "token", "", "authentication token (never printed)")
	fs.StringVar(&cf.NKey, "nkey", "", "nkey user seed `file`")
	fs.StringVar(&cf.TLSCert, "tlscert", "", "TLS client certificate `file`")
	fs.StringVar(&cf.TLSKey, "tlskey", "", "TLS client key `file`")
	fs.StringVar(&cf.TLSCA, "tlsca", "", "TLS CA certificates `file` to verify the server")
	fs.StringVar(&cfg.op, "op", "", "`operation` of every line of a -f file; for result, read the outcome bucket")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "with -wait, how long to wait for results after the last publish; bounds result")
	fs.StringVar(&c.Bucket, "bucket", contract.OutcomeBucket, "outcome key-value `bucket`")
	fs.StringVar(&c.ResultStream, "result-stream", contract.ResultStream, "result `stream` that result scans without -op")
	fs.VisitAll(func(f *flag.Flag) {
		if env := envName(f.Name); env != "" {
			f.Usage += " [" + env + "]"
		}
	})
}

// usage writes enqueue -h.
func usage(out io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(out, `Usage:
  enqueue [flags] <Operation> '<json command>' [<Operation> '<json command>' ...]
  enqueue [flags] -f cmds.jsonl            (-f - reads standard input)
  enqueue [flags] result [-op Operation] <id>...
  enqueue [flags] put <file> [-name N]          store a file, print its reference
  enqueue [flags] get <reference> -o <file>     fetch a stored file (a result's {"$object": …}, or a name)
  enqueue [flags] dlq ls [Operation] [-code C] [-after SEQ] [-limit N]
  enqueue [flags] dlq show <id|seq> [-op Operation]
  enqueue [flags] dlq replay <id|seq> | -op Operation | -code C [-force] [-fields file] [-delete]
  enqueue [flags] dlq purge [<id|seq> | -op Operation | -code C] -yes

enqueue publishes 1C-Connect commands for the connect-bridge worker: one
JetStream message per command on <subject-prefix><Operation> (stream
CONNECT_CMD, e.g. connect.cmd.ClientUserEdit), header Nats-Msg-Id: <id>.
Flags go before the first operation; -flag and --flag are the same.

  enqueue ClientUserEdit '{"id":"c-1","fields":{"ClientUserID":"…","Name":"Анна"}}'
  enqueue -wait -f cmds.jsonl > results.jsonl

A JSON command is {"id":"…","fields":{…}}. Without "id" one is generated
(enq-<unix nanos>-<n>) and reported on stderr: ids must be unique, JetStream
drops a repeated one within its duplicate window. In a JSON lines file each
line is {"op":"ClientUserEdit","id":"…","fields":{…}}; -op gives the
operation of lines without "op". Blank lines and lines starting with # are
skipped; a malformed line is reported with its number and the run goes on.
An operation not in the catalogue is refused unless -allow-unknown.

For files, when stderr is a terminal, progress bars are drawn there:
commands published and, with -wait, results, each with its rate, and an
estimate of when the last result comes, made from the workers' quota:
the calls the commands still need (packets of the catalogue's rows, or
-max-rows), the calls left in this window from the shared ledger
(CONNECT_QUOTA, read, never written), then whole windows of the limit,
with the guard at each edge. For it to count as the workers count, give
the quota flags the workers have (-quota-window, -quota-guard, -quota-tz,
-night, -limit, -quota-reserve; their environment variables too):

  ≈ 3 h 40 min: 412 calls at 225 calls/h

Without a readable ledger (workers with --local-quota, or a NATS user
not allowed to read the bucket) the estimate says so and takes this
window as unused. -call-time sets the time between two calls of one
operation; by default it is measured from the answers. Notes, and
results when stdout is the same terminal, are written above the bars.
Nothing is drawn when stderr is not a terminal; the summary lines are
the same either way.

Commands are published in order, through the Go SDK (package connect).
-wait subscribes to a private reply inbox (header Connect-Reply-To) before
publishing and prints each command's result on stdout, one JSON object a
line, then a summary on stderr: counts by code, elapsed time, and the ids
still missing at -timeout. A command the stream already had (same
Nats-Msg-Id within its duplicate window) never reaches the worker again: its
result is read from the outcome bucket, until it is final; so is that of a
command whose reply does not come within 30s.

enqueue result prints stored results by id: with -op from the outcome bucket
(one read per id); without -op by scanning the whole result stream, which
is O(stream): prefer -op.

Exit status: 0 when every command was published (with -wait: and ended
SUCCESS; for result: was found and is SUCCESS); 1 when any was not, is
missing or a line was malformed; 2 for usage errors.

Flags (environment variable in brackets):
`)
	fs.PrintDefaults()
	fmt.Fprint(out, `
result takes the connection flags, -op, -timeout, -bucket and -result-stream,
before or after the word result.

put stores a file in the files bucket (CONNECT_FILES, which the worker
creates) and prints its reference, {"$object": {"bucket", "name", "size",
"digest"}}, which a command's binary field may carry instead of base64
(ServiceRequestAttachFile's Data): the worker streams the object into the
request. get writes a stored object to -o: a result's reference (a
downloaded file, a large answer) as printed, or an object's name. Both
take the connection flags and -files-bucket, before or after the word.

dlq reads the dead-letter stream (CONNECT_DLQ, subjects
connect.dlq.<Operation>): the commands the worker could not process, with
their fields (secrets redacted) and why. It needs the admin's NATS user
(connect-admin in deploy/k8s: producers' accounts do not see the stream,
and the worker may not delete from it). Its flags come before or after its
words: -op, -code, -dlq-stream, -dlq-prefix, the connection's, -timeout.
  ls       a table, oldest first: SEQ ID OP CODE REASON AGE (-limit, default
           100; -after the last SEQ for the next page)
  show     one dead letter as JSON; a number is a sequence or an id, and
           one that is both is refused with the candidates
  replay   sends the stored fields again as a new command, id
           "<original id>-replay-<seq>" (so the result names the original,
           and replaying one dead letter twice runs it once), and prints
           each result; -op or -code replay every match (-limit). Refused:
           UNKNOWN_OUTCOME or POISON of an operation not safe to send twice
           (an …Add may have created its object; check, then -force), and
           redacted fields (a Password) unless -fields gives them (a file
           with a JSON object, - for stdin; never on the command line).
           -delete deletes each dead letter whose replay succeeded. With
           the deploy's users, -reply-prefix connect.reply.admin: the
           worker may not publish on inboxes there.
  purge    deletes the dead letters named (all without -op, -code or an
           argument); without -yes it only says how many it would.
`)
}

// run publishes or looks up, as cfg says, until done or ctx ends.
func run(ctx context.Context, cfg config) error {
	nc, err := natsconn.Connect(cfg.conn)
	if err != nil {
		return err
	}
	defer nc.Close()
	if fc := cfg.files; fc != nil {
		return runFiles(ctx, nc, fc, cfg.client.Stdout, cfg.client.Stderr)
	}
	if cfg.dlq != nil {
		cfg.dlq.stdin = cfg.stdin
		return runDLQ(ctx, nc, cfg, cfg.client.Stdout, cfg.client.Stderr)
	}
	cl, err := enqueue.New(nc, cfg.client)
	if err != nil {
		return err
	}
	if cfg.results {
		_, err := cl.Results(ctx, cfg.op, cfg.ids)
		return err
	}
	src := cfg.args
	if cfg.file != "" {
		fsrc, closer, err := enqueue.OpenFile(cfg.file, cfg.stdin, cfg.op, cfg.allowUnknown)
		if err != nil {
			return err
		}
		defer closer.Close()
		src = fsrc
	}
	_, err = cl.Publish(ctx, src)
	return err
}

// runFiles puts or gets a file.
func runFiles(ctx context.Context, nc *nats.Conn, fc *filesCmd, stdout, stderr io.Writer) error {
	if fc.put {
		ref, err := enqueue.PutFile(ctx, nc, fc.bucket, fc.arg, fc.name)
		if err != nil {
			return err
		}
		b, err := json.Marshal(ref.Wrap())
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	w, closeOut := stdout, func() error { return nil }
	if fc.out != "-" {
		f, err := os.Create(fc.out)
		if err != nil {
			return fmt.Errorf("enqueue: get: %w", err)
		}
		w, closeOut = f, f.Close
	}
	ref, err := enqueue.GetFile(ctx, nc, fc.bucket, fc.arg, w)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		if fc.out != "-" {
			_ = os.Remove(fc.out) // no half file
		}
		return err
	}
	fmt.Fprintf(stderr, "enqueue: %s, %d bytes, %s\n", ref, ref.Size, ref.Digest)
	return nil
}

// parseInterleaved parses args with fs, flags and arguments in any order,
// and returns the arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	return rest, nil
}
