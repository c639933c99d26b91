package enqueue

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// Errors callers branch on.
var (
	// ErrIncomplete: not every command succeeded. A command was malformed
	// or failed to publish, or (when waiting) a result was not SUCCESS or
	// did not come in time. The summary says which.
	ErrIncomplete = errors.New("enqueue: not every command succeeded")
	// ErrUnknownOperation: an operation is not in the catalogue.
	ErrUnknownOperation = errors.New("enqueue: unknown operation")
)

// Config configures a Client. Zero fields take their defaults.
type Config struct {
	// SubjectPrefix is put before the operation to make a command's
	// subject. Defaults to contract.CommandPrefix ("connect.cmd.").
	SubjectPrefix string
	// Format is the payload encoding, "json" or "msgpack". Defaults to
	// "json", which also sets the Content-Type header.
	Format string
	// Wait makes Publish collect one result per command on a reply inbox
	// and print them.
	Wait bool
	// Timeout bounds the wait for results after the last command is
	// published, and the whole of Results. Defaults to 2m.
	Timeout time.Duration
	// MaxPending bounds the publishes in flight, not yet acknowledged by
	// JetStream. Defaults to 4096.
	MaxPending int
	// AckTimeout bounds the wait for one publish's acknowledgement.
	// Defaults to 30s.
	AckTimeout time.Duration
	// ReplyTimeout is how long, with Wait, a command waits for its reply
	// before its result is read from the outcome bucket, then again
	// after twice as long each time (connect.WithReplyTimeout); a
	// duplicate's is read at once. Defaults to 30s.
	ReplyTimeout time.Duration
	// Bucket is the outcome key-value bucket. Defaults to
	// contract.OutcomeBucket.
	Bucket string
	// ResultStream is the stream of results. Defaults to
	// contract.ResultStream.
	ResultStream string
	// Stdout receives the results, one JSON object a line. Defaults to
	// io.Discard.
	Stdout io.Writer
	// Stderr receives notes (generated ids, malformed lines, publish
	// errors) and the closing summary. Defaults to io.Discard.
	Stderr io.Writer
	// Progress, when it is a terminal, gets the progress bars: commands
	// published and, with Wait, results, each with its rate, and the
	// estimate of when the last result comes. Notes (and results, when
	// Stdout is the same terminal) are written above the bars meanwhile.
	// Nil, or not a terminal, draws nothing; the summary is the same.
	Progress io.Writer
	// ProgressEvery is the period of the bars. Defaults to 200ms.
	ProgressEvery time.Duration
	// Quota is the workers' quota: the windows and limits their flags
	// set (--quota-window, --quota-guard, --quota-tz, --night, --limit,
	// --quota-reserve), which the estimate must share. Zero fields take
	// the workers' defaults; Limits.Catalogue defaults to the catalogue.
	Quota quota.Config
	// QuotaBucket is the workers' shared ledger, read (never written) for
	// the estimate. Defaults to quota.DefaultBucket.
	QuotaBucket string
	// MaxRows is the commands per call by operation, where the workers
	// are configured below the catalogue's packet size ("max_rows").
	// Defaults to the catalogue's; the largest packet seen in the run's
	// results wins once there is one.
	MaxRows map[string]int
	// CallTime is the time between two calls of one operation (the API's
	// latency over the workers' concurrency), for the estimate. Zero
	// measures it: the median time between the answers of consecutive
	// calls in one window, no time until two have come.
	CallTime time.Duration
	// EstimateEvery is how often, with Wait, the ledger is read and the
	// estimate made again, while the bars are drawn or OnEstimate is set.
	// Defaults to 2s.
	EstimateEvery time.Duration
	// OnEstimate, when set, receives every estimate of a run with Wait,
	// from the goroutine that makes them; it must not block long.
	OnEstimate func(Estimate)
	// Now tells the time, for ids and the elapsed time. Defaults to
	// time.Now.
	Now func() time.Time
}

// Client publishes commands and reads results over one connection.
type Client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	cfg    Config
	format contract.Format
	quota  *quota.Reader
}

// New returns a client on nc, which the caller keeps and closes.
func New(nc *nats.Conn, cfg Config) (*Client, error) {
	cfg.SubjectPrefix = cmp.Or(cfg.SubjectPrefix, contract.CommandPrefix)
	cfg.Format = cmp.Or(cfg.Format, "json")
	cfg.Timeout = cmp.Or(cfg.Timeout, 2*time.Minute)
	cfg.MaxPending = cmp.Or(cfg.MaxPending, 4096)
	cfg.AckTimeout = cmp.Or(cfg.AckTimeout, 30*time.Second)
	cfg.ReplyTimeout = cmp.Or(cfg.ReplyTimeout, 30*time.Second)
	cfg.Bucket = cmp.Or(cfg.Bucket, contract.OutcomeBucket)
	cfg.ResultStream = cmp.Or(cfg.ResultStream, contract.ResultStream)
	cfg.ProgressEvery = cmp.Or(cfg.ProgressEvery, 200*time.Millisecond)
	cfg.EstimateEvery = cmp.Or(cfg.EstimateEvery, 2*time.Second)
	if cfg.Quota.Limits.Catalogue == nil {
		cfg.Quota.Limits.Catalogue = catalog.HourlyLimits
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if nc == nil {
		return nil, errors.New("enqueue: no connection")
	}
	f, err := ParseFormat(cfg.Format)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("enqueue: timeout %s is negative", cfg.Timeout)
	case cfg.MaxPending < 0:
		return nil, fmt.Errorf("enqueue: max pending %d is negative", cfg.MaxPending)
	case cfg.AckTimeout < 0 || cfg.ReplyTimeout < 0:
		return nil, fmt.Errorf("enqueue: ack timeout %s or reply timeout %s is negative", cfg.AckTimeout, cfg.ReplyTimeout)
	case cfg.ProgressEvery < 0 || cfg.EstimateEvery < 0:
		return nil, fmt.Errorf("enqueue: progress period %s or estimate period %s is negative", cfg.ProgressEvery, cfg.EstimateEvery)
	case cfg.CallTime < 0:
		return nil, fmt.Errorf("enqueue: call time %s is negative", cfg.CallTime)
	}
	for op, n := range cfg.MaxRows {
		if n < 1 {
			return nil, fmt.Errorf("enqueue: max rows of %s: %d, want at least 1", op, n)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("enqueue: jetstream: %w", err)
	}
	q, err := quota.NewReader(quota.ReaderConfig{Config: cfg.Quota, JetStream: js, Bucket: cfg.QuotaBucket})
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return &Client{nc: nc, js: js, cfg: cfg, format: f, quota: q}, nil
}

// ParseFormat reads a payload format name: "json" or "msgpack".
func ParseFormat(s string) (contract.Format, error) {
	switch s {
	case "json":
		return contract.JSON, nil
	case "msgpack":
		return contract.MsgPack, nil
	}
	return 0, fmt.Errorf(`enqueue: format %q: want "json" or "msgpack"`, s)
}

// sdk returns a connect.Client on the client's connection, publishing
// as the flags say. Commands are checked by enqueue's own rules (the
// source's parse), so the SDK publishes operations it does not know and
// leaves the fields to the worker. The caller closes it.
func (cl *Client) sdk() (*connect.Client, error) {
	f := connect.JSON
	if cl.format == contract.MsgPack {
		f = connect.MsgPack
	}
	c, err := connect.New(cl.nc,
		connect.WithCommandPrefix(cl.cfg.SubjectPrefix),
		connect.WithOutcomeBucket(cl.cfg.Bucket),
		connect.WithFormat(f),
		connect.WithoutValidation(),
		connect.WithUnknownOperations(),
		connect.WithMaxCommandBytes(MaxLineBytes),
		connect.WithPublishTimeout(cl.cfg.AckTimeout),
		connect.WithReplyTimeout(cl.cfg.ReplyTimeout))
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return c, nil
}

// fields returns c's fields as the client's format carries them.
func (cl *Client) fields(c Command) (map[string]any, error) {
	if cl.format != contract.MsgPack {
		return c.Fields, nil // json.Number is written digit for digit
	}
	// msgpack has no arbitrary-precision number: json.Number must become
	// a native number, and one that cannot be exactly is refused rather
	// than rounded.
	v, err := nativeNumbers(c.Fields)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// nativeNumbers returns v with every json.Number replaced by an int64,
// uint64 or float64 that holds it exactly.
func nativeNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return nativeNumber(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := nativeNumbers(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := nativeNumbers(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	}
	return v, nil
}

// nativeNumber converts one JSON number. A decimal keeps its value when
// the shortest float64 that prints like it has the same value ("0.1"
// does, "12345678901234567.89" does not).
func nativeNumber(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err == nil && !math.IsInf(f, 0) {
		want, ok1 := new(big.Rat).SetString(string(n))
		got, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
		if ok1 && ok2 && want.Cmp(got) == 0 {
			return f, nil
		}
	}
	return nil, fmt.Errorf("number %s cannot be sent exactly in msgpack: quote it or use --format json", n)
}
