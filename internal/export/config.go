package export

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
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// Reader reads an answer row by row, as it is decoded: *soap.Client.
type Reader = soap.RowCaller

// Limiter grants the exports' calls from their share of each read's limit:
// quota.Shared or quota.Local.
type Limiter = quota.ShareTaker

// Export is one export's settings. Zero fields take the defaults given.
type Export struct {
	// Name names the export: its marker, its lease, its metrics.
	// Defaults to Op; two exports of one read (different filters) need
	// names.
	Name string `json:"name,omitempty"`
	// Op is the read exported, one of catalog.PeriodReads, e.g.
	// GetHistoryOfServiceCalls. Required.
	Op string `json:"op"`
	// Interval is how often the export reads the newest part of the
	// history once it has caught up: the time between the starts of two
	// such reads. A backfill reads chunk after chunk as fast as the quota
	// grants. Required.
	Interval Duration `json:"interval"`
	// Since is where an export without a marker starts. Zero starts at
	// the moment the export first runs (less Settle): no backfill.
	Since time.Time `json:"since,omitzero"`
	// Chunk is the longest period one read asks for. Defaults to the
	// read's bound by day in the catalogue (7 days for
	// GetHistoryOfServiceCalls, 1 day where none is published); longer
	// than a confirmed bound is refused, longer than an inferred one is
	// allowed (the service refuses it if the guess was right, and the
	// chunk is halved).
	Chunk Duration `json:"chunk,omitempty"`
	// Settle is how far behind the present the export stays: the last
	// minutes' history may still be incomplete (a call appears once it
	// ends). Defaults to 10m; negative means none.
	Settle Duration `json:"settle,omitempty"`
	// Filters are the read's other parameters (SpecialistID…), checked by
	// the catalogue. PeriodFrom and PeriodTo are the export's to set.
	Filters map[string]any `json:"filters,omitempty"`
	// IDColumn is the result column that identifies a row, in place of
	// the catalogue's (catalog.Period.IDColumn); "-" identifies every row
	// by a hash of its content. Defaults to the catalogue's.
	IDColumn string `json:"id_column,omitempty"`
	// NightBackfill keeps a backfill (an export more than a chunk and an
	// interval behind) to the night hours (Config.Night), when the
	// history reads have their larger limits; by day it waits. No effect
	// without night hours.
	NightBackfill bool `json:"night_backfill,omitempty"`
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

// Names are the subjects, stream and buckets of the exports. Zero
// fields take the defaults of this package.
type Names struct {
	HistoryPrefix, HistoryStream string
	MarkerBucket, LeaseBucket    string
}

func (n Names) withDefaults() Names {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.HistoryPrefix, HistoryPrefix)
	def(&n.HistoryStream, HistoryStream)
	def(&n.MarkerBucket, MarkerBucket)
	def(&n.LeaseBucket, LeaseBucket)
	return n
}

// Config configures the exports of one process. Zero fields take the
// defaults given.
type Config struct {
	// Exports are the exports to run. An empty list runs nothing (Rerun
	// still reads any period read).
	Exports []Export
	// Conn is the NATS connection. Required.
	Conn *nats.Conn
	// API reads the service. Required.
	API Reader
	// Limiter grants calls. Required.
	Limiter Limiter
	// Share is the part of each read's limit the exports may use
	// together, over 0 and at most 1; the rest stays for commands of the
	// same read. Defaults to 0.5.
	Share float64
	// Location is the account's time zone, in which PeriodFrom and
	// PeriodTo are written. Defaults to Moscow time.
	Location *time.Location
	// Night are the night hours of the quota (its Windows.Night): the
	// hours a NightBackfill export reads its backfill in. Defaults to
	// none.
	Night tariff.Night
	// Names of subjects, stream and buckets.
	Names Names
	// Replicas of the stream and buckets created. Defaults to 1.
	Replicas int
	// HistoryMaxAge is how long rows stay in the stream. Defaults to 30
	// days.
	HistoryMaxAge time.Duration
	// DuplicateWindow of the stream: within it a row published again
	// (a chunk read again after a restart, a halving, a rerun) is
	// dropped. Defaults to 24h.
	DuplicateWindow time.Duration
	// MaxResponseBytes is the largest answer of one read: a chunk whose
	// answer is larger is halved and read again. Defaults to 64 MiB.
	MaxResponseBytes int64
	// MinChunk is the shortest period halving goes down to: a chunk that
	// cannot be read at it fails, and the export waits an interval.
	// Defaults to 1m.
	MinChunk time.Duration
	// CallTimeout bounds one read. Defaults to 10m.
	CallTimeout time.Duration
	// Batch is how many rows are published before their
	// acknowledgements are awaited: the rows in memory at a time.
	// Defaults to 256.
	Batch int
	// LeaseTTL is how long a silent reader keeps its export. Defaults to
	// 15s; it is renewed every third of it.
	LeaseTTL time.Duration
	// Clock is the time. Defaults to the real clock.
	Clock clock.Clock
	// Logger receives the exports' logs. Defaults to a disabled logger.
	Logger zerolog.Logger
	// Metrics receives the exports' series. Defaults to a private
	// registry.
	Metrics prometheus.Registerer
	// Tracer records a span per read of a chunk; each row carries its
	// traceparent. Nil: none.
	Tracer trace.TracerProvider
	// Files is the bucket of large payloads (package files): a row
	// larger than a message is stored there and its message carries a
	// reference, and the archive reads (the colleagues' chat, a ZIP of
	// HTML files) are exported as one object per file and one row per
	// object. Nil: such a row fails its chunk, and archive reads cannot
	// be exported (New refuses them).
	Files *files.Store
}

// exportShare names the exports' share of the quota ledger.
const exportShare = "exports"

// idByHash is the IDColumn that identifies rows by their content.
const idByHash = "-"

// nameRule is what an export's name may be: it is part of keys and
// labels.
var nameRule = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Validate checks the exports against the catalogue; New refuses what it
// refuses. Every problem is named.
func (c Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	minChunk := c.MinChunk
	if minChunk <= 0 {
		minChunk = time.Minute
	}
	for i, x := range c.Exports {
		x = x.withDefaults()
		where := fmt.Sprintf("export %d (%s)", i+1, x.Name)
		for _, err := range x.validate(minChunk) {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if names[x.Name] {
			errs = append(errs, fmt.Errorf("%s: two exports named %s: name them apart", where, x.Name))
		}
		names[x.Name] = true
	}
	if c.Share != 0 && !(c.Share > 0 && c.Share <= 1) {
		errs = append(errs, fmt.Errorf("export share %v: want more than 0 and at most 1", c.Share))
	}
	if c.MinChunk < 0 || c.MinChunk%time.Second != 0 {
		errs = append(errs, fmt.Errorf("minimum chunk %s: want whole seconds, not negative", c.MinChunk))
	}
	if c.MaxResponseBytes < 0 || c.Batch < 0 {
		errs = append(errs, errors.New("export: negative max response bytes or batch"))
	}
	if err := c.Night.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("night hours: %w", err))
	}
	return errors.Join(errs...)
}

// validate checks one export, defaults applied, and returns every
// problem. A rerun needs no interval nor name: it calls validateRead.
func (x Export) validate(minChunk time.Duration) []error {
	errs := x.readProblems(minChunk)
	if x.Interval <= 0 {
		errs = append(errs, errors.New("an interval is required"))
	}
	if !nameRule.MatchString(x.Name) {
		errs = append(errs, errors.New("the name must be a letter then letters, digits, '_' or '-', at most 64"))
	}
	return errs
}

// validateRead checks what reading the export needs: its read, chunk,
// filters and id column.
func (x Export) validateRead(minChunk time.Duration) error {
	return errors.Join(x.readProblems(minChunk)...)
}

// readProblems are validateRead's problems, one by one.
func (x Export) readProblems(minChunk time.Duration) []error {
	op, p, err := catalog.LookupPeriodRead(x.Op)
	if err != nil {
		// It names the reads that can be exported, with their bounds.
		return []error{err}
	}
	var errs []error
	chunk := time.Duration(x.Chunk)
	switch {
	case chunk < minChunk || chunk%time.Second != 0:
		errs = append(errs, fmt.Errorf("chunk %s: want whole seconds, at least the minimum chunk %s", chunk, minChunk))
	case chunk > p.MaxDay && p.Source == catalog.Confirmed:
		errs = append(errs, fmt.Errorf("chunk %s: %s reads at most %s by day (confirmed): the service would refuse every read", chunk, x.Op, p.MaxDay))
	}
	for _, name := range []string{p.From, p.To} {
		if _, ok := x.Filters[name]; ok {
			errs = append(errs, fmt.Errorf("%s is the export's to set; give since instead", name))
		}
	}
	if _, err := op.Fields(x.Filters); err != nil {
		errs = append(errs, fmt.Errorf("filters: %w", err))
	}
	if x.IDColumn != "" && x.IDColumn != idByHash && !soap.ValidName(x.IDColumn) {
		errs = append(errs, fmt.Errorf("id column %q: want a column name, or %q for a hash of the row", x.IDColumn, idByHash))
	}
	return errs
}

// withDefaults returns x with its name, chunk and settle set.
func (x Export) withDefaults() Export {
	if x.Name == "" {
		x.Name = x.Op
	}
	if x.Chunk == 0 {
		if op, ok := catalog.Lookup(x.Op); ok {
			if p, ok := op.Period(); ok {
				x.Chunk = Duration(p.MaxDay)
			}
		}
	}
	switch {
	case x.Settle == 0:
		x.Settle = Duration(10 * time.Minute)
	case x.Settle < 0:
		x.Settle = 0
	}
	return x
}

// idColumn is the column that identifies x's rows, "" for a hash.
func (x Export) idColumn(p catalog.Period) string {
	switch x.IDColumn {
	case "":
		return p.IDColumn
	case idByHash:
		return ""
	}
	return x.IDColumn
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Conn == nil:
		return c, errors.New("export: Config.Conn is required")
	case c.API == nil:
		return c, errors.New("export: Config.API is required")
	case c.Limiter == nil:
		return c, errors.New("export: Config.Limiter is required")
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	c.Exports = append([]Export(nil), c.Exports...)
	for i := range c.Exports {
		c.Exports[i] = c.Exports[i].withDefaults()
	}
	if c.Share == 0 {
		c.Share = 0.5
	}
	if c.Location == nil {
		c.Location = quota.MoscowTime()
	}
	c.Names = c.Names.withDefaults()
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	setDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setDur(&c.HistoryMaxAge, 30*24*time.Hour)
	setDur(&c.DuplicateWindow, 24*time.Hour)
	setDur(&c.MinChunk, time.Minute)
	setDur(&c.CallTimeout, 10*time.Minute)
	setDur(&c.LeaseTTL, 15*time.Second)
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 64 << 20
	}
	if c.Batch <= 0 {
		c.Batch = 256
	}
	c.Clock = clock.Or(c.Clock)
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	return c, nil
}

// natsTimeout bounds one request to JetStream.
const natsTimeout = 5 * time.Second

// jetstreamFor returns the JetStream context the exports use.
func jetstreamFor(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncTimeout(natsTimeout), jetstream.WithDefaultTimeout(natsTimeout))
}
