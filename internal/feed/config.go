package feed

import (
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Reader reads an answer row by row, as it is decoded: *soap.Client.
type Reader = soap.RowCaller

// Limiter grants the feeds' calls from their share of each read's limit:
// quota.Shared or quota.Local.
type Limiter = quota.ShareTaker

// Feed is one feed's settings. Zero fields take the defaults given.
type Feed struct {
	// Name names the feed: its marker, its lease, its metrics. Defaults
	// to Read; two feeds of one read (different filters) need names.
	Name string `json:"name,omitempty"`
	// Read is the change-tracked read, e.g. ClientUserRead. Required.
	Read string `json:"read"`
	// Interval is the time between the starts of two polls. Required.
	Interval Duration `json:"interval"`
	// Overlap is how far before the marker each poll reads again: the
	// difference between the worker's clock and the service's, and the
	// second precision of ChangedFrom. Defaults to 60s.
	Overlap Duration `json:"overlap,omitempty"`
	// Since is where a feed without a marker starts, the backfill; zero
	// reads every object (no ChangedFrom).
	Since time.Time `json:"since,omitzero"`
	// Filters are the read's other parameters (ClientID for
	// ClientUserRead), checked by the catalogue.
	Filters map[string]any `json:"filters,omitempty"`
	// Msgpack publishes the events as msgpack instead of JSON.
	Msgpack bool `json:"msgpack,omitempty"`
}

// Duration is a time.Duration that reads "30s" in JSON.
type Duration time.Duration

// UnmarshalText reads a Go duration.
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

// Names are the subjects, streams and buckets of the feeds. Zero fields
// take the defaults of this package.
type Names struct {
	ChangePrefix, ChangeStream              string
	MirrorBucket, MarkerBucket, LeaseBucket string
}

func (n Names) withDefaults() Names {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.ChangePrefix, ChangePrefix)
	def(&n.ChangeStream, ChangeStream)
	def(&n.MirrorBucket, MirrorBucket)
	def(&n.MarkerBucket, MarkerBucket)
	def(&n.LeaseBucket, LeaseBucket)
	return n
}

// Config configures the feeds of one process. Zero fields take the
// defaults given.
type Config struct {
	// Feeds are the feeds to run. Required (an empty list runs nothing).
	Feeds []Feed
	// Conn is the NATS connection. Required.
	Conn *nats.Conn
	// API reads the service. Required.
	API Reader
	// Limiter grants calls. Required.
	Limiter Limiter
	// Share is the part of each read's limit the feeds may use together,
	// over 0 and at most 1; the rest stays for commands of the same read.
	// Defaults to 0.5.
	Share float64
	// Location is the account's time zone, in which ChangedFrom is
	// written. Defaults to Moscow time.
	Location *time.Location
	// Names of subjects, streams and buckets.
	Names Names
	// Replicas of the stream and buckets created. Defaults to 1.
	Replicas int
	// ChangeMaxAge is how long events stay in the stream. Defaults to 7
	// days.
	ChangeMaxAge time.Duration
	// DuplicateWindow of the event stream. Defaults to 10m.
	DuplicateWindow time.Duration
	// TombstoneTTL is how long the mirror keeps a deleted object.
	// Defaults to 30 days.
	TombstoneTTL time.Duration
	// MaxResponseBytes caps one answer of a feed's read (a backfill of a
	// large account). Defaults to 1 GiB.
	MaxResponseBytes int64
	// CallTimeout bounds one read. Defaults to 10m.
	CallTimeout time.Duration
	// Chunk is how many rows are looked up, published and written to the
	// mirror at a time. Defaults to 256.
	Chunk int
	// LeaseTTL is how long a silent poller keeps its feed. Defaults to
	// 15s; it is renewed every third of it.
	LeaseTTL time.Duration
	// Clock is the time. Defaults to the real clock.
	Clock clock.Clock
	// Logger receives the feeds' logs. Defaults to a disabled logger.
	Logger zerolog.Logger
	// Metrics receives the feeds' series. Defaults to a private registry.
	Metrics prometheus.Registerer
	// Tracer records a span per poll; each event carries its traceparent.
	// Nil: none.
	Tracer trace.TracerProvider
}

// feedShare names the feeds' share of the quota ledger.
const feedShare = "feeds"

// nameRule is what a feed's name may be: it is part of keys and labels.
var nameRule = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Validate checks the feeds against the catalogue; Run refuses what it
// refuses. Every problem is named.
func (c Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, f := range c.Feeds {
		f = f.withDefaults()
		where := fmt.Sprintf("feed %d (%s)", i+1, f.Name)
		op, err := catalog.LookupChangeTracked(f.Read)
		if err != nil {
			// It names the reads that can feed, with how sure the
			// catalogue is of each.
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		switch {
		case !nameRule.MatchString(f.Name):
			errs = append(errs, fmt.Errorf("%s: the name must be a letter then letters, digits, '_' or '-', at most 64", where))
		case names[f.Name]:
			errs = append(errs, fmt.Errorf("%s: two feeds named %s: name them apart", where, f.Name))
		}
		names[f.Name] = true
		if f.Interval <= 0 {
			errs = append(errs, fmt.Errorf("%s: an interval is required", where))
		}
		if f.Overlap < 0 {
			errs = append(errs, fmt.Errorf("%s: a negative overlap", where))
		}
		if _, ok := f.Filters["ChangedFrom"]; ok {
			errs = append(errs, fmt.Errorf("%s: ChangedFrom is the feed's to set; give since instead", where))
		}
		if _, err := op.Fields(f.Filters); err != nil {
			errs = append(errs, fmt.Errorf("%s: filters: %w", where, err))
		}
	}
	if c.Share != 0 && !(c.Share > 0 && c.Share <= 1) {
		errs = append(errs, fmt.Errorf("feed share %v: want more than 0 and at most 1", c.Share))
	}
	return errors.Join(errs...)
}

func (f Feed) withDefaults() Feed {
	if f.Name == "" {
		f.Name = f.Read
	}
	if f.Overlap == 0 {
		f.Overlap = Duration(time.Minute)
	}
	return f
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Conn == nil:
		return c, errors.New("feed: Config.Conn is required")
	case c.API == nil:
		return c, errors.New("feed: Config.API is required")
	case c.Limiter == nil:
		return c, errors.New("feed: Config.Limiter is required")
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	for i := range c.Feeds {
		c.Feeds[i] = c.Feeds[i].withDefaults()
	}
	if c.Share == 0 {
		c.Share = 0.5
	}
	if c.Location == nil {
		c.Location = quota.MoscowTime()
	}
	c.Names = c.Names.withDefaults()
	setDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	setDur(&c.ChangeMaxAge, 7*24*time.Hour)
	setDur(&c.DuplicateWindow, 10*time.Minute)
	setDur(&c.TombstoneTTL, 30*24*time.Hour)
	setDur(&c.CallTimeout, 10*time.Minute)
	setDur(&c.LeaseTTL, 15*time.Second)
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 1 << 30
	}
	if c.Chunk <= 0 {
		c.Chunk = 256
	}
	c.Clock = clock.Or(c.Clock)
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	return c, nil
}

// natsTimeout bounds one request to JetStream.
const natsTimeout = 5 * time.Second

// jetstreamFor returns the JetStream context the feeds use.
func jetstreamFor(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncTimeout(natsTimeout), jetstream.WithDefaultTimeout(natsTimeout))
}
