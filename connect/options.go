package connect

import (
	"context"
	"errors"
	"fmt"
	"github.com/nats-io/nats.go"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Format is the encoding of the commands a client publishes; the worker
// answers in the same one.
type Format uint8

// The formats.
const (
	// JSON payloads, with Content-Type application/json. The default.
	JSON Format = iota
	// MsgPack payloads, with Content-Type application/msgpack.
	MsgPack
)

// config is a client's settings.
type config struct {
	commandPrefix  string
	outcomeBucket  string
	dlqStream      string // the dead-letter stream (dlq.go)
	dlqPrefix      string // its subject prefix, + operation
	stores         stores // the mirror and files buckets
	replyPrefix    string // "" : the connection's inbox prefix
	replyAllow     []string
	replyTimeout   time.Duration
	recheckMax     time.Duration
	publishTimeout time.Duration
	format         Format
	maxFieldBytes  int
	maxCommand     int
	validate       bool
	unknownOps     bool // publish operations the catalogue lacks (WithUnknownOperations)
	// headers, when set, adds headers to each command from its context.
	headers func(ctx context.Context, h nats.Header)
}

func defaultConfig() config {
	return config{
		commandPrefix:  contract.CommandPrefix,
		outcomeBucket:  contract.OutcomeBucket,
		dlqStream:      contract.DLQStream,
		dlqPrefix:      contract.DLQPrefix,
		replyAllow:     contract.DefaultReplyAllow(),
		replyTimeout:   30 * time.Second,
		recheckMax:     5 * time.Minute,
		publishTimeout: 5 * time.Second,
		maxFieldBytes:  catalog.DefaultMaxUnknownBytes,
		maxCommand:     1 << 20,
		validate:       true,
	}
}

// Option configures a Client; New returns its error.
type Option func(*config) error

// WithCommandPrefix sets the subject prefix of commands, the worker's
// command prefix. Defaults to "connect.cmd.".
func WithCommandPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" || strings.ContainsAny(prefix, " \t\r\n*>") || !strings.HasSuffix(prefix, ".") {
			return fmt.Errorf("connect: command prefix %q: want a subject prefix ending in '.'", prefix)
		}
		c.commandPrefix = prefix
		return nil
	}
}

// WithOutcomeBucket names the worker's outcome bucket, where results are
// read back from. Defaults to "CONNECT_OUTCOMES".
func WithOutcomeBucket(bucket string) Option {
	return func(c *config) error {
		if bucket == "" {
			return errors.New("connect: outcome bucket: empty name")
		}
		c.outcomeBucket = bucket
		return nil
	}
}

// WithDeadLetterStream names the worker's dead-letter stream and its
// subject prefix (the worker's DLQ stream and prefix), which
// DeadLetters, Replay and PurgeDeadLetters read. Defaults to
// "CONNECT_DLQ" and "connect.dlq.".
func WithDeadLetterStream(stream, prefix string) Option {
	return func(c *config) error {
		if stream == "" || strings.ContainsAny(stream, " \t\r\n.*>") {
			return fmt.Errorf("connect: dead-letter stream %q: want a stream name", stream)
		}
		if prefix == "" || strings.ContainsAny(prefix, " \t\r\n*>") || !strings.HasSuffix(prefix, ".") {
			return fmt.Errorf("connect: dead-letter prefix %q: want a subject prefix ending in '.'", prefix)
		}
		c.dlqStream, c.dlqPrefix = stream, prefix
		return nil
	}
}

// WithReplyPrefix makes the client receive its replies under prefix
// (e.g. "connect.reply.billing") instead of the connection's inbox
// prefix, for deployments whose NATS permissions or worker allow-list
// call for it. The prefix must be allowed by WithReplyAllow.
func WithReplyPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" {
			return errors.New("connect: reply prefix: empty")
		}
		c.replyPrefix = strings.TrimSuffix(prefix, ".")
		return nil
	}
}

// WithReplyAllow gives the worker's reply allow-list (its --reply-allow),
// so that New refuses a reply subject the worker would refuse: such
// commands would never be answered on it. Defaults to "_INBOX.>" and
// "connect.reply.>", the worker's default.
func WithReplyAllow(patterns ...string) Option {
	return func(c *config) error {
		if len(patterns) == 0 {
			return errors.New("connect: reply allow-list: no pattern")
		}
		if err := (contract.ReplyPolicy{Allow: patterns}).Validate(); err != nil {
			return fmt.Errorf("connect: reply allow-list: %w", err)
		}
		c.replyAllow = append([]string(nil), patterns...)
		return nil
	}
}

// WithReplyTimeout sets how long a command waits for its reply before
// its result is read from the outcome bucket; while it is not final, it
// is read again after twice as long each time, up to 5 minutes. A
// command may wait long for the quota: this only sets how often to look.
// Defaults to 30s.
func WithReplyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("connect: reply timeout %s: want a positive duration", d)
		}
		c.replyTimeout = d
		c.recheckMax = max(c.recheckMax, d)
		return nil
	}
}

// WithPublishTimeout bounds one attempt to publish a command (the wait
// for the stream's acknowledgement); a failed attempt is retried with
// the same id until the context ends. Defaults to 5s.
func WithPublishTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("connect: publish timeout %s: want a positive duration", d)
		}
		c.publishTimeout = d
		return nil
	}
}

// WithFormat sets the encoding of commands (and so of their results).
// Defaults to JSON.
func WithFormat(f Format) Option {
	return func(c *config) error {
		if f != JSON && f != MsgPack {
			return fmt.Errorf("connect: format %d: want JSON or MsgPack", f)
		}
		c.format = f
		return nil
	}
}

// WithMaxFieldBytes sets the longest string or binary field of an
// operation whose parameters are not published, as the worker's
// --max-field-bytes does. Defaults to 64 KiB, the worker's default.
func WithMaxFieldBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("connect: max field bytes %d: want a positive count", n)
		}
		c.maxFieldBytes = n
		return nil
	}
}

// WithMaxCommandBytes sets the largest command payload the client
// publishes, as the worker's --cmd-max-msg-size does (headers are about
// 150 bytes more). Defaults to 1 MiB.
func WithMaxCommandBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("connect: max command bytes %d: want a positive count", n)
		}
		c.maxCommand = n
		return nil
	}
}

// WithoutValidation publishes commands without checking their fields
// against the catalogue first (the payload and id are still checked):
// the worker then refuses bad fields with INVALID_FIELDS. For workers
// whose catalogue differs from the client's.
func WithoutValidation() Option {
	return func(c *config) error {
		c.validate = false
		return nil
	}
}

// WithUnknownOperations publishes operations that are not in the
// client's catalogue, their fields unchecked, instead of refusing them
// with UNKNOWN_OPERATION: for a worker whose catalogue is newer than the
// client's (one that is not answers UNKNOWN_OPERATION). The name must
// still be a subject token.
func WithUnknownOperations() Option {
	return func(c *config) error {
		c.unknownOps = true
		return nil
	}
}

// WithHeaders sets a function that adds headers to each command from the
// context it is sent with: the way to propagate a trace without the SDK
// depending on a tracing library. With OpenTelemetry:
//
//	connect.WithHeaders(func(ctx context.Context, h nats.Header) {
//		otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
//	})
//
// The worker reads traceparent (or Traceparent) and continues the trace;
// the result's reply carries the traceparent of the command's span. The
// function must not set the headers the SDK sets (Nats-Msg-Id,
// Content-Type, Connect-Reply-To): they are set after it.
func WithHeaders(fn func(ctx context.Context, h nats.Header)) Option {
	return func(c *config) error {
		c.headers = fn
		return nil
	}
}

// CommandOption configures one command.
type CommandOption func(*commandConfig) error

type commandConfig struct {
	id string
}

// WithID gives the command's id instead of a generated one: 1 to 256
// bytes of UTF-8 without control characters, unique among the commands
// of the operation. Publishing the same operation again with the same id
// gives back the first command's result and runs nothing: use an id
// derived from the business event (an order number, a message id) to
// make a retry of the whole call safe.
func WithID(id string) CommandOption {
	return func(c *commandConfig) error {
		if err := contract.ValidID(id); err != nil {
			return fmt.Errorf("connect: WithID: %w", err)
		}
		c.id = id
		return nil
	}
}
