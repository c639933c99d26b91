package worker

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Limiter grants API calls: before every call the worker asks it for one
// call of the operation. quota.Local and quota.Shared implement it.
type Limiter interface {
	// Take asks for one call of op at now. It never blocks for long: the
	// answer is a grant, or the time to ask again.
	Take(ctx context.Context, op string, now time.Time) (quota.Grant, error)
	// Exhausted records an OUT_OF_LIMIT answer of the API for op.
	Exhausted(ctx context.Context, op string, now time.Time) error
}

// Caller sends one request to the API; *soap.Client is the one used.
type Caller interface {
	Call(ctx context.Context, req *soap.Request) (*soap.Response, error)
}

// Names are the subjects, streams and buckets the worker uses. Zero
// fields take the contract's defaults.
type Names struct {
	CommandPrefix, ResultPrefix, DLQPrefix string
	CommandStream, ResultStream, DLQStream string
	OutcomeBucket                          string
	// ConsumerPrefix + operation names each operation's durable consumer.
	// Defaults to "cmd-".
	ConsumerPrefix string
	// PriorityGroup is the consumers' pinned priority group. Defaults to
	// "connect".
	PriorityGroup string
}

func (n Names) withDefaults() Names {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.CommandPrefix, contract.CommandPrefix)
	def(&n.ResultPrefix, contract.ResultPrefix)
	def(&n.DLQPrefix, contract.DLQPrefix)
	def(&n.CommandStream, contract.CommandStream)
	def(&n.ResultStream, contract.ResultStream)
	def(&n.DLQStream, contract.DLQStream)
	def(&n.OutcomeBucket, contract.OutcomeBucket)
	def(&n.ConsumerPrefix, "cmd-")
	def(&n.PriorityGroup, "connect")
	return n
}

// OpSettings tune one operation's lane. Zero fields inherit the worker's
// defaults (Config.Defaults), whose zero fields take the values given.
type OpSettings struct {
	// MaxRows caps a packet; it never exceeds the catalogue's packet
	// limit. Defaults to the catalogue's limit (100 for most writes, 1 for
	// operations that are not batched).
	MaxRows int `json:"max_rows,omitempty"`
	// MaxWait is how long the oldest command of a packet waits for the
	// packet to fill. Defaults to 2s.
	MaxWait Duration `json:"max_wait,omitempty"`
	// MaxPending caps the commands of the operation the worker holds
	// unfinished (received, not yet acknowledged); it is also the
	// consumer's MaxAckPending. Defaults to 1000.
	MaxPending int `json:"max_pending,omitempty"`
	// Concurrency is how many calls of the operation may be in flight at
	// once from this worker. Defaults to 1: at a few hundred calls an hour,
	// one at a time is plenty, and a second call in flight when another
	// client of the account spends the limit earns a second OUT_OF_LIMIT.
	Concurrency int `json:"concurrency,omitempty"`
	// MaxAttempts is how many failed calls a command may take before it
	// ends with TRANSPORT_ERROR (or SOAP_FAULT). Calls the API did not
	// process (OUT_OF_LIMIT, short result tables, refused credentials) do
	// not count. Defaults to 5.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// CallTimeout bounds one API call. Defaults to 60s, and is never more
	// than the shutdown timeout less 5s (20s with the default shutdown
	// timeout), so that a call in flight at shutdown ends in time for its
	// result to be recorded: raise ShutdownTimeout (and the pod's grace
	// period) for longer calls.
	CallTimeout Duration `json:"call_timeout,omitempty"`
	// MaxHold bounds how long the holding-back rule (hold.go) may keep a
	// due partial packet from going while calls remain in the window.
	// Defaults to 1m.
	MaxHold Duration `json:"max_hold,omitempty"`
	// Collapse, for the operations of the Edit family (…Edit,
	// …ValueEdit), sends the waiting edits of one object with the same
	// fields as one row carrying the last one's values; every collapsed
	// command gets that row's result. Intermediate states then never reach
	// the service (its history shows the last edit only). Defaults to
	// true; false sends every edit.
	Collapse *bool `json:"collapse,omitempty"`
	// RetryUnknownOutcome lets calls that are not safe to repeat (the
	// …Add operations, sends) be sent again when their outcome is unknown,
	// accepting possible duplicates, instead of ending with
	// UNKNOWN_OUTCOME.
	RetryUnknownOutcome *bool `json:"retry_unknown_outcome,omitempty"`
}

// Duration is a time.Duration that reads "2s" in JSON config files.
type Duration time.Duration

// UnmarshalText reads a Go duration ("150ms", "2s").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go duration form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Merge returns s with its zero fields taken from def.
func (s OpSettings) Merge(def OpSettings) OpSettings {
	if s.MaxRows == 0 {
		s.MaxRows = def.MaxRows
	}
	if s.MaxWait == 0 {
		s.MaxWait = def.MaxWait
	}
	if s.MaxPending == 0 {
		s.MaxPending = def.MaxPending
	}
	if s.Concurrency == 0 {
		s.Concurrency = def.Concurrency
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = def.MaxAttempts
	}
	if s.CallTimeout == 0 {
		s.CallTimeout = def.CallTimeout
	}
	if s.RetryUnknownOutcome == nil {
		s.RetryUnknownOutcome = def.RetryUnknownOutcome
	}
	if s.MaxHold == 0 {
		s.MaxHold = def.MaxHold
	}
	if s.Collapse == nil {
		s.Collapse = def.Collapse
	}
	return s
}

// StreamLimits bound a stream. Zero fields take the defaults given.
type StreamLimits struct {
	// MaxBytes bounds the stream's size. Defaults to 1 GiB.
	MaxBytes int64
	// MaxMsgs bounds its messages. Defaults to 1,000,000.
	MaxMsgs int64
	// MaxMsgSize bounds one command (payload and headers): a larger one is
	// refused at publish. It also sizes the lanes' fetches (see
	// Config.LaneBytes). Defaults to 1 MiB; -1 means the server's max
	// payload.
	MaxMsgSize int32
}

// Config configures a Worker. Zero fields take the defaults given.
type Config struct {
	// Conn is the NATS connection; the caller owns it and closes it after
	// Run returns. Required.
	Conn *nats.Conn
	// API sends requests to PartnerWebAPI2. Required.
	API Caller
	// Limiter grants calls. Required.
	Limiter Limiter
	// Names of subjects, streams and buckets.
	Names Names
	// Operations lists the operations this worker serves. Defaults to all
	// of the catalogue.
	Operations []string
	// Defaults are the settings of every operation; Ops overrides them per
	// operation.
	Defaults OpSettings
	Ops      map[string]OpSettings
	// Unordered lets every replica fetch every operation's commands at
	// the same time (no pinned consumer): more calls in parallel, but
	// commands for one object may then be applied out of order when they
	// reach different replicas. Off by default.
	Unordered bool
	// Replicas of the streams and the bucket the worker creates. Defaults
	// to 1; use 3 on a JetStream cluster.
	Replicas int
	// DuplicateWindow of the command stream. Defaults to 10m.
	DuplicateWindow time.Duration
	// CommandLimits bound the command stream; when it is full, a
	// producer's publish is refused (the stream discards new messages,
	// never queued ones).
	CommandLimits StreamLimits
	// ReplyAllow lists the subjects (NATS wildcards allowed) a command may
	// name in Connect-Reply-To. Defaults to "_INBOX.>" and
	// "connect.reply.>". Subjects starting with '$' and the worker's own
	// prefixes are refused whatever the list says.
	ReplyAllow []string
	// MaxDeliver bounds the deliveries of one command: the delivery that
	// reaches it is answered POISON, and its message dead-lettered, before
	// its payload is read, so that a command that kept failing (or kept
	// killing workers) is never read again. It is also the consumers'
	// MaxDeliver. Graceful shutdowns hand commands back, which counts as a
	// delivery too. Defaults to 10.
	MaxDeliver int
	// LaneBytes and ProcessBytes bound the memory the commands held by one
	// lane, and by all lanes together, may take (each command counts
	// commandCost of its message). A lane fetches no more commands at a
	// time than both have room for were each of the largest size the
	// command stream accepts (CommandLimits.MaxMsgSize): with 1 MiB commands,
	// about 40 at a time per lane. Default 128 MiB and
	// 256 MiB, which fit the manifests' 512 MiB memory limit.
	LaneBytes, ProcessBytes int64
	// SecretFields are field names (case-insensitive) whose values are
	// redacted in dead letters, logs and errors, beside those the catalogue
	// marks secret. Defaults to "Password".
	SecretFields []string
	// MaxFieldBytes caps a string or binary field of an operation whose
	// parameters the catalogue does not know. Defaults to the catalogue's
	// default.
	MaxFieldBytes int
	// Files is the bucket of large payloads (package files): commands'
	// references to stored objects are read from it, and results too
	// large for a message are stored in it. Nil: references are refused,
	// and such results are RESULT_TOO_LARGE.
	Files *files.Store
	// ResultMaxAge is how long results stay in the result stream.
	// Defaults to 7 days.
	ResultMaxAge time.Duration
	// DLQMaxAge is how long dead letters stay. Defaults to 30 days.
	DLQMaxAge time.Duration
	// OutcomeTTL is how long a finished command's outcome is kept for
	// answering redeliveries and re-publications. Defaults to 7 days.
	OutcomeTTL time.Duration
	// AckWait is the consumers' ack wait: a command a dead worker held is
	// redelivered after it. The worker keeps the commands it holds alive
	// with progress acks. Defaults to 30s.
	AckWait time.Duration
	// PinnedTTL is how long a silent worker keeps an operation pinned to
	// itself before another replica takes over. It is never less than
	// AckWait, so that a new owner sees the old one's commands again before
	// newer ones. Defaults to AckWait plus 5s (plus AckWait when shorter).
	PinnedTTL time.Duration
	// FetchWait is how long one fetch waits for commands. Defaults to 5s.
	FetchWait time.Duration
	// BackoffInitial and BackoffMax shape the exponential backoff (with
	// jitter) between failed calls of an operation. Default 500ms and 1m.
	BackoffInitial, BackoffMax time.Duration
	// AuthRetry is how long the worker stops calling the API after HTTP
	// 401/403 before it tries again. Defaults to 1m.
	AuthRetry time.Duration
	// SweepInterval is how often commands on subjects of no known
	// operation are looked for and answered. Defaults to 2s.
	SweepInterval time.Duration
	// ShutdownTimeout bounds the graceful shutdown. Defaults to 25s.
	ShutdownTimeout time.Duration
	// Logger receives the worker's logs. Defaults to a disabled logger.
	Logger zerolog.Logger
	// Metrics receives the worker's metrics and serves them at /metrics.
	// Defaults to a private registry (without the Go and process
	// collectors, which the process adds).
	Metrics *prometheus.Registry
	// Tracer records the commands' and calls' spans (see trace.go). Nil:
	// none are recorded.
	Tracer trace.TracerProvider
	// Clock tells the time and makes the timers and tickers of every loop
	// of the worker. Defaults to the real clock.
	Clock clock.Clock
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.API == nil:
		return c, errors.New("worker: Config.API is required")
	case c.Limiter == nil:
		return c, errors.New("worker: Config.Limiter is required")
	}
	c.Names = c.Names.withDefaults()
	if len(c.Operations) == 0 {
		c.Operations = catalog.Names()
	}
	for _, name := range c.Operations {
		if _, ok := catalog.Lookup(name); !ok {
			return c, fmt.Errorf("worker: unknown operation %q in Operations", name)
		}
	}
	for name := range c.Ops {
		if _, ok := catalog.Lookup(name); !ok {
			return c, fmt.Errorf("worker: settings for unknown operation %q", name)
		}
	}
	c.Defaults = c.Defaults.Merge(OpSettings{
		MaxWait:     Duration(2 * time.Second),
		MaxPending:  1000,
		Concurrency: 1,
		MaxAttempts: 5,
		CallTimeout: Duration(60 * time.Second),
		MaxHold:     Duration(time.Minute),
	})
	if c.Defaults.RetryUnknownOutcome == nil {
		f := false
		c.Defaults.RetryUnknownOutcome = &f
	}
	if c.Defaults.Collapse == nil {
		t := true
		c.Defaults.Collapse = &t
	}
	setDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	setDur(&c.DuplicateWindow, 10*time.Minute)
	if c.CommandLimits.MaxBytes <= 0 {
		c.CommandLimits.MaxBytes = 1 << 30
	}
	if c.CommandLimits.MaxMsgs <= 0 {
		c.CommandLimits.MaxMsgs = 1_000_000
	}
	if c.CommandLimits.MaxMsgSize == 0 {
		c.CommandLimits.MaxMsgSize = 1 << 20
	}
	if len(c.ReplyAllow) == 0 {
		c.ReplyAllow = []string{"_INBOX.>", "connect.reply.>"}
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.MaxDeliver < 2 {
		return c, errors.New("worker: MaxDeliver must be at least 2: a command handed back at shutdown is delivered again")
	}
	if c.LaneBytes <= 0 {
		c.LaneBytes = 128 << 20
	}
	if c.ProcessBytes <= 0 {
		c.ProcessBytes = 256 << 20
	}
	if c.LaneBytes > c.ProcessBytes {
		c.LaneBytes = c.ProcessBytes
	}
	if len(c.SecretFields) == 0 {
		c.SecretFields = []string{"Password"}
	}
	setDur(&c.ResultMaxAge, 7*24*time.Hour)
	setDur(&c.DLQMaxAge, 30*24*time.Hour)
	setDur(&c.OutcomeTTL, 7*24*time.Hour)
	setDur(&c.AckWait, 30*time.Second)
	setDur(&c.PinnedTTL, c.AckWait+min(5*time.Second, c.AckWait))
	if c.PinnedTTL < c.AckWait {
		c.PinnedTTL = c.AckWait
	}
	setDur(&c.FetchWait, 5*time.Second)
	setDur(&c.BackoffInitial, 500*time.Millisecond)
	setDur(&c.BackoffMax, time.Minute)
	setDur(&c.AuthRetry, time.Minute)
	setDur(&c.SweepInterval, 2*time.Second)
	setDur(&c.ShutdownTimeout, 25*time.Second)
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return c, nil
}

// shutdownMargin is the part of the shutdown timeout kept for recording
// and publishing the results of the last calls.
func shutdownMargin(shutdown time.Duration) time.Duration {
	return min(5*time.Second, shutdown/5)
}

// settings returns op's effective settings. CallTimeout is bounded by the
// shutdown timeout less shutdownMargin.
func (c Config) settings(op *catalog.Operation) (OpSettings, error) {
	s := c.Ops[op.Name].Merge(c.Defaults)
	if s.MaxRows <= 0 || s.MaxRows > op.MaxRows {
		s.MaxRows = op.MaxRows
	}
	if s.MaxPending < s.MaxRows {
		return s, fmt.Errorf("worker: %s: max_pending %d is less than a packet (%d rows)", op.Name, s.MaxPending, s.MaxRows)
	}
	if s.Concurrency < 1 || s.MaxAttempts < 1 {
		return s, fmt.Errorf("worker: %s: concurrency and max_attempts must be at least 1", op.Name)
	}
	// A call still in flight when the worker stops must end, and its
	// result be recorded, within the shutdown timeout: an Add cut short
	// would end UNKNOWN_OUTCOME.
	if bound := c.ShutdownTimeout - shutdownMargin(c.ShutdownTimeout); time.Duration(s.CallTimeout) > bound {
		s.CallTimeout = Duration(bound)
	}
	return s, nil
}
