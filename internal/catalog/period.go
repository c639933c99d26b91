package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The names a period is spoken in.
const (
	// ParamPeriodFrom and ParamPeriodTo are the parameters of a history
	// or statistics read: xs:dateTime wall clocks in the account's time
	// zone, to the second, the first the period's start.
	ParamPeriodFrom = "PeriodFrom"
	ParamPeriodTo   = "PeriodTo"
)

// DefaultMaxPeriod is the bound of a period where the service publishes
// none: one day. It is a guess kept small on purpose (a read of a longer
// period could be refused, and every refusal costs a call of a limit of
// ten an hour); a deployment that knows better overrides it per export.
const DefaultMaxPeriod = 24 * time.Hour

// Period is what the catalogue knows of the period a history or
// statistics read takes (see [Operation.Period]).
type Period struct {
	// From and To are the parameters that bound the period: PeriodFrom
	// and PeriodTo.
	From, To string
	// MaxDay is the longest period one call may ask for by day, MaxNight
	// at night (the night hours of the account's tariff). Where the night
	// bound is not published it equals MaxDay: the confirmed pages bound
	// the period "by day", which suggests a looser bound at night, but
	// not how loose.
	MaxDay, MaxNight time.Duration
	// Source says how sure MaxDay and MaxNight are: Confirmed for
	// GetHistoryOfServiceCalls (7 days) and GetHistoryOfServiceTreatments
	// (35 days), from their operation pages; Inferred (DefaultMaxPeriod)
	// for the others.
	Source Source
	// IDColumn is the result column that identifies a row of the answer
	// (one call, one treatment), or "" where no column is known to: a row
	// is then identified by its content. No history read's columns are
	// published; the names follow the <Object>ID pattern of every
	// recorded read, and ServiceTreatmentID is recorded on the rows of
	// GetOpenedServiceTreatments, the same objects.
	IDColumn string
	// IDSource says how sure IDColumn is; zero when IDColumn is "".
	IDSource Source
	// Archive reports that the answer is not a table of rows but a base64
	// ZIP of HTML files (GetHistoryOfColleaguesChat, third-party code).
	Archive bool
}

// Max returns the longest period one call may ask for, at night or by
// day.
func (p Period) Max(night bool) time.Duration {
	if night {
		return p.MaxNight
	}
	return p.MaxDay
}

// periods are the reads that take PeriodFrom and PeriodTo, by name. The
// history reads take them according to third-party code; the three
// statistics reads of a period (usage, start-picture clicks, storefront
// clicks) are inferred to take the same, since their parameters are not
// published. Two PeriodRead operations take no such period and are not
// here: GetOpenedServiceTreatments (OpenedFrom/OpenedTo, dates, and it
// answers the treatments open now, not a history) and
// ServiceRequestHistory (a list of request ids).
//
// Row identity, where a column is named: one call, treatment, SIP call,
// session or file transfer per row, identified by <Object>ID. Chats and
// comments have none named: their rows may be messages of one
// conversation sharing its id, so they are identified by content.
var periods = map[string]Period{
	"GetHistoryOfServiceCalls": {MaxDay: 7 * 24 * time.Hour, MaxNight: 7 * 24 * time.Hour, Source: Confirmed,
		IDColumn: "ServiceCallID", IDSource: Inferred},
	"GetHistoryOfServiceTreatments": {MaxDay: 35 * 24 * time.Hour, MaxNight: 35 * 24 * time.Hour, Source: Confirmed,
		IDColumn: "ServiceTreatmentID", IDSource: Inferred},
	"GetHistoryOfAgentSessions":             inferredPeriod("AgentSessionID"),
	"GetHistoryOfSIPCalls":                  inferredPeriod("SIPCallID"),
	"GetHistoryOfServiceRASessions":         inferredPeriod("ServiceRASessionID"),
	"GetHistoryOfServiceFileTransfer":       inferredPeriod("ServiceFileTransferID"),
	"GetHistoryOfServiceChat":               inferredPeriod(""),
	"GetHistoryOfServiceCallsComments":      inferredPeriod(""),
	"GetHistoryOfServiceTreatmentsComments": inferredPeriod(""),
	"GetHistoryOfServiceRASessionsComments": inferredPeriod(""),
	"GetHistoryOfColleaguesChat": {MaxDay: DefaultMaxPeriod, MaxNight: DefaultMaxPeriod, Source: Inferred,
		Archive: true},
	"GetClientUsageStatistics":           inferredPeriod(""),
	"StartPictureClicksHistoryRead":      inferredPeriod(""),
	"StorefrontProductClicksHistoryRead": inferredPeriod(""),
}

// inferredPeriod is the entry of a read whose bound is not published:
// DefaultMaxPeriod at all hours; idColumn as the pattern names it, or "".
func inferredPeriod(idColumn string) Period {
	p := Period{MaxDay: DefaultMaxPeriod, MaxNight: DefaultMaxPeriod, Source: Inferred, IDColumn: idColumn}
	if idColumn != "" {
		p.IDSource = Inferred
	}
	return p
}

// Period returns the period op takes, with its parameters' names set,
// and whether it takes one.
func (op *Operation) Period() (Period, bool) {
	p, ok := periods[op.Name]
	if !ok {
		return Period{}, false
	}
	p.From, p.To = ParamPeriodFrom, ParamPeriodTo
	return p, true
}

// ErrNoPeriod is wrapped by LookupPeriodRead's error for an operation
// that takes no period, so that no export can walk it.
var ErrNoPeriod = errors.New("catalog: operation does not take a period")

// PeriodReads returns the reads that take a period (PeriodFrom,
// PeriodTo), sorted by name. The slice is new on each call; its elements
// point into the shared table.
func PeriodReads() []*Operation {
	var out []*Operation
	for i := range operations {
		if _, ok := periods[operations[i].Name]; ok {
			out = append(out, &operations[i])
		}
	}
	return out
}

// LookupPeriodRead returns the read named name and its period. An
// unknown name is an error wrapping ErrUnknownOperation, an operation
// without a period one wrapping ErrNoPeriod; both list the reads that
// take one, with how sure their bounds are.
func LookupPeriodRead(name string) (*Operation, Period, error) {
	op, ok := Lookup(name)
	if !ok {
		return nil, Period{}, fmt.Errorf("%w %q: an export reads one of %s", ErrUnknownOperation, name, periodNames())
	}
	p, ok := op.Period()
	if !ok {
		return nil, Period{}, fmt.Errorf("%w: %s is a %s without PeriodFrom and PeriodTo; an export reads one of %s", ErrNoPeriod, name, op.Kind, periodNames())
	}
	return op, p, nil
}

// periodNames lists the reads with a period and their bounds, for an
// error message: "GetHistoryOfServiceCalls (7 days, confirmed), …".
func periodNames() string {
	var b strings.Builder
	for i, op := range PeriodReads() {
		if i > 0 {
			b.WriteString(", ")
		}
		p, _ := op.Period()
		fmt.Fprintf(&b, "%s (%s, %s", op.Name, days(p.MaxDay), p.Source)
		if p.Archive {
			b.WriteString(", answers a ZIP")
		}
		b.WriteString(")")
	}
	return b.String()
}

// days writes a bound for people: "7 days", "1 day", "12h0m0s".
func days(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
