package emulator

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// Path is the path of the SOAP endpoint, the same as on the real service.
// The WSDL is served at Path + "?wsdl".
const Path = "/cus/ws/PartnerWebAPI2"

// DefaultMaxBodyBytes is the default cap of a request body.
const DefaultMaxBodyBytes = 32 << 20

// MaxChurn is the most changes a minute Config.Churn may ask for: 1,000 a
// second, far above what an account's people make, and within what one
// lock held a few milliseconds at a time can apply.
const MaxChurn = 60_000

// AnswerVersion says in which SOAP version the emulator answers.
type AnswerVersion uint8

// The answer versions.
const (
	// AnswerSOAP12 answers every request with a SOAP 1.2 envelope and
	// Content-Type application/soap+xml;charset=utf-8, as the real service
	// does even to SOAP 1.1 requests. It is the zero value.
	AnswerSOAP12 AnswerVersion = iota
	// AnswerAsRequest answers in the SOAP version of the request.
	AnswerAsRequest
)

// Config configures a Server. The zero Config is a working emulator with
// the catalogue's limits, no latency and no injected failures.
type Config struct {
	// User and Password are the HTTP Basic credentials the SOAP endpoint
	// accepts. Default to admin and admin.
	User, Password string
	// Window is the length of a limit window. Windows are aligned to
	// multiples of Window since the Unix epoch, so a 1h window is a clock
	// hour. Defaults to 1h.
	Window time.Duration
	// LatencyMin and LatencyMax bound the time the server waits before
	// answering a SOAP call: fixed when equal, drawn uniformly between
	// them otherwise. A LatencyMax below LatencyMin is raised to it.
	// Zero (the default) answers at once.
	LatencyMin, LatencyMax time.Duration
	// FailRate is the share (0 to 1) of authenticated SOAP calls answered
	// with a plain HTTP 500 before any processing. Such calls are not
	// counted against the limit. Defaults to 0.
	FailRate float64
	// DropRate is the share (0 to 1) of calls whose connection is cut
	// without an answer after the call was fully processed and counted:
	// the client cannot tell whether it was applied. Defaults to 0.
	DropRate float64
	// Limits are calls per window by operation name, at all hours. The key
	// "*" sets every operation not named itself. An operation in neither
	// takes the catalogue's day or night limit. Zero allows no call. Read
	// with tariff.ParseLimits (or tariff.LimitFlag), as the worker's are.
	Limits map[string]int
	// Night are the hours of the account's day that use the catalogue's
	// night limits, read with tariff.ParseNight as the worker's are.
	// Defaults to none: day limits at all hours.
	Night tariff.Night
	// PacketLimit, when positive, replaces the catalogue's MaxRows as the
	// most rows a packet may carry. A longer packet is refused as a whole.
	PacketLimit int
	// MaxBodyBytes caps a request body. Defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Location is the account's time zone: change times are stamped and
	// ChangedFrom is read in it. Defaults to Europe/Moscow, or a fixed
	// UTC+3 when the time zone database is missing.
	Location *time.Location
	// Now returns the current time. Defaults to time.Now; tests inject a
	// clock to cross limit windows and stamp change times.
	Now func() time.Time
	// ClockOffset shifts the sandbox's clock (Now) by this much, for
	// everything: change times, limit windows, ChangedFrom comparisons
	// and the HTTP Date header of its answers. A positive offset is a
	// service whose clock runs ahead of the caller's, for clock-skew tests.
	// Defaults to 0.
	ClockOffset time.Duration
	// Churn is the number of changes a minute that Run makes to the store
	// on its own, as people working in the web cabinet would: objects of
	// the change-tracked kinds created, edited and deleted, each stamped
	// with its change time. Zero (the default) makes none; at most
	// MaxChurn.
	Churn float64
	// ChurnKinds are the kinds the churn changes (ClientUser, Specialist,
	// UserServiceLine, Client, ClientDepartment, Department, Competence,
	// ServiceLineKind), each with its usual weight among them. Empty (the
	// default): all of them.
	ChurnKinds []string
	// OnChurn, when set, receives every change Run makes, one call per
	// object changed (a creation that made the objects it refers to
	// reports them too), in the order made. It is called with the
	// Server's lock held: it must return quickly and must not call the
	// Server. Defaults to none.
	OnChurn func(Change)
	// Seed seeds the random source of latencies, injected failures and new
	// UUIDs: equal seeds and equal calls give equal results. Zero seeds
	// from the clock. The generated history is drawn from it too.
	Seed int64
	// SeedHistory is the number of days of generated history before the
	// day the Server is made (calls, treatments, chats, sessions, comments,
	// file transfers, clicks): the history and statistics reads of a
	// period answer its events that started in [PeriodFrom, PeriodTo) and
	// are over. The history goes on while the sandbox runs. Zero (the
	// default) generates none: those reads answer empty tables. At most
	// MaxSeedHistory.
	SeedHistory int
	// HistoryPerDay is the number of events a day, on average, of every
	// generated history. Zero (the default) takes each read's own, from 4
	// (sessions) to 40 (chat messages) a day; at most MaxHistoryPerDay.
	HistoryPerDay int
	// PeriodBounds replaces, by operation, the catalogue's bound of the
	// period one read may ask for (catalog.Period), day and night alike: a
	// service stricter or looser than the catalogue says, for tests. A
	// longer period is refused with a SOAP Fault.
	PeriodBounds map[string]time.Duration
	// Logger receives a debug line per call. Defaults to no logging.
	Logger zerolog.Logger
	// AnswerVersion chooses the SOAP version of answers. Defaults to
	// AnswerSOAP12, like the real service.
	AnswerVersion AnswerVersion
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.User = cmp.Or(c.User, "admin")
	c.Password = cmp.Or(c.Password, "admin")
	c.Window = cmp.Or(c.Window, time.Hour)
	c.LatencyMax = max(c.LatencyMax, c.LatencyMin)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	if c.Location == nil {
		c.Location = moscow()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if off := c.ClockOffset; off != 0 {
		now := c.Now
		c.Now = func() time.Time { return now().Add(off) }
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	return c
}

// validate reports every problem of a defaulted Config.
func (c Config) validate() error {
	var errs []error
	if c.Window < time.Second {
		errs = append(errs, fmt.Errorf("window %s is shorter than a second", c.Window))
	}
	if c.LatencyMin < 0 {
		errs = append(errs, fmt.Errorf("negative latency %s", c.LatencyMin))
	}
	if !(c.FailRate >= 0 && c.FailRate <= 1) {
		errs = append(errs, fmt.Errorf("fail rate %v is not between 0 and 1", c.FailRate))
	}
	if !(c.DropRate >= 0 && c.DropRate <= 1) {
		errs = append(errs, fmt.Errorf("drop rate %v is not between 0 and 1", c.DropRate))
	}
	known := func(op string) bool {
		_, ok := catalog.Lookup(op)
		return ok
	}
	if err := tariff.CheckLimits(c.Limits, known); err != nil {
		errs = append(errs, err)
	}
	if err := c.Night.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("night: %w", err))
	}
	if !(c.Churn >= 0 && c.Churn <= MaxChurn) {
		errs = append(errs, fmt.Errorf("churn %v changes a minute is not between 0 and %d", c.Churn, MaxChurn))
	}
	for _, k := range c.ChurnKinds {
		if !slices.ContainsFunc(cabinetKinds, func(ck cabinetKind) bool { return ck.name == k }) {
			errs = append(errs, fmt.Errorf("churn kind %q is not a kind the churn changes (%s)", k, cabinetKindNames()))
		}
	}
	if c.PacketLimit < 0 {
		errs = append(errs, fmt.Errorf("negative packet limit %d", c.PacketLimit))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("negative body cap %d", c.MaxBodyBytes))
	}
	if c.SeedHistory < 0 || c.SeedHistory > MaxSeedHistory {
		errs = append(errs, fmt.Errorf("seed history of %d days is not between 0 and %d", c.SeedHistory, MaxSeedHistory))
	}
	if c.HistoryPerDay < 0 || c.HistoryPerDay > MaxHistoryPerDay {
		errs = append(errs, fmt.Errorf("history of %d events a day is not between 0 and %d", c.HistoryPerDay, MaxHistoryPerDay))
	}
	for _, op := range slices.Sorted(maps.Keys(c.PeriodBounds)) {
		d := c.PeriodBounds[op]
		if o, ok := catalog.Lookup(op); !ok {
			errs = append(errs, fmt.Errorf("period bound of %q: unknown operation", op))
		} else if _, ok := o.Period(); !ok {
			errs = append(errs, fmt.Errorf("period bound of %s: it takes no period", op))
		}
		if d <= 0 {
			errs = append(errs, fmt.Errorf("period bound of %s: %s is not positive", op, d))
		}
	}
	if c.AnswerVersion > AnswerAsRequest {
		errs = append(errs, fmt.Errorf("unknown answer version %d", c.AnswerVersion))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("emulator: config: %w", err)
	}
	return nil
}

// moscow returns Europe/Moscow, or UTC+3 (its offset since 2014) when the
// time zone database is missing.
func moscow() *time.Location {
	if loc, err := time.LoadLocation("Europe/Moscow"); err == nil {
		return loc
	}
	return time.FixedZone("MSK", 3*60*60)
}
