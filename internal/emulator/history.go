package emulator

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// The generated history (Config.SeedHistory).
//
// History is not stored: the events of one day of one read are a pure
// function of the seed, the read and the date, drawn again whenever a
// read asks for a period that holds that day. So a year of history costs
// no memory, a read's answer is written as it is drawn (one day's events
// at a time), and the same seed always gives the same rows, whatever the
// order or the moment of the reads. The history starts at local midnight
// SeedHistory days before the day the Server was made, and goes on for
// as long as the sandbox runs: a read of today answers the events that
// are over by now.

// MaxSeedHistory is the most days of history Config.SeedHistory may ask
// for: ten years.
const MaxSeedHistory = 3660

// MaxHistoryPerDay is the most events a day Config.HistoryPerDay may ask
// for, per read.
const MaxHistoryPerDay = 1_000_000

// MaxEventLength is the longest a generated event lasts. A read answers
// an event only once it is over, by the sandbox's clock, but places it in
// a period by its start, as a history of calls would: an export that
// stays this far behind the present (its settle) misses none.
const MaxEventLength = 5 * time.Minute

// minEventLength is the shortest a generated event lasts.
const minEventLength = 10 * time.Second

// source says where a generated cell comes from.
type source uint8

const (
	fromOwnID      source = iota + 1 // the event's own id, a new UUID
	fromClient                       // one of the history's clients
	fromUser                         // one of its client users
	fromSpecialist                   // one of its specialists
	fromLine                         // one of its support lines
	fromParent                       // a call, treatment or session commented on
	fromPicture                      // a start picture
	fromProduct                      // a storefront product
	fromStart                        // when the event started: its place in a period
	fromEnd                          // when it ended
	fromSeconds                      // how long it lasted, in seconds
	fromText                         // a message or comment
	fromFileName                     // a file's name
	fromSize                         // a file's size in bytes
	fromValue                        // a statistic's value
)

// pooled are the sources that pick from a pool of ids, and the pools'
// sizes: a few people and lines, so that filters (SpecialistID, ClientID)
// match some events of every day.
var pooled = map[source]int{
	fromClient: 20, fromUser: 60, fromSpecialist: 12, fromLine: 4,
	fromParent: 500, fromPicture: 3, fromProduct: 6,
}

// histCol is one column of a generated history and where its cells come
// from.
type histCol struct {
	column
	from source
}

// historySpec is what the history of one read looks like: its events a
// day on average and its columns, in order.
type historySpec struct {
	perDay int
	cols   []histCol
}

func hcol(c column, from source) histCol { return histCol{column: c, from: from} }

// historySpecs are the generated histories, by read: every read the
// catalogue gives a period (catalog.PeriodReads) but the colleagues'
// chat, which answers a ZIP. The columns are the emulator's plausible
// guess, none published: an event's own id (<Object>ID, the id column
// the catalogue names, where it names one), the people and line it
// involved, when it started and ended. The statistics reads keep the
// columns their empty tables had (schema.go's opColumns).
var historySpecs = func() map[string]historySpec {
	people := func(own string, from ...source) []histCol {
		cols := []histCol{hcol(idCol(own), fromOwnID)}
		for _, f := range from {
			switch f {
			case fromClient:
				cols = append(cols, hcol(idCol("ClientID"), f))
			case fromUser:
				cols = append(cols, hcol(idCol("ServiceUserID"), f))
			case fromSpecialist:
				cols = append(cols, hcol(idCol("SpecialistID"), f))
			case fromLine:
				cols = append(cols, hcol(idCol("ServiceID"), f))
			}
		}
		return cols
	}
	span := []histCol{hcol(timeCol("Start"), fromStart), hcol(timeCol("End"), fromEnd)}
	comment := func(parent string) historySpec {
		return historySpec{perDay: 6, cols: []histCol{hcol(idCol(parent), fromParent), hcol(idCol("SpecialistID"), fromSpecialist),
			hcol(timeCol("Start"), fromStart), hcol(strCol("Text", 0), fromText)}}
	}
	stat := func(perDay int, cols ...histCol) historySpec { return historySpec{perDay: perDay, cols: cols} }
	return map[string]historySpec{
		"GetHistoryOfServiceCalls": {perDay: 24, cols: slices.Concat(
			people("ServiceCallID", fromClient, fromUser, fromSpecialist, fromLine), span,
			[]histCol{hcol(decCol("Duration"), fromSeconds)})},
		"GetHistoryOfServiceTreatments": {perDay: 16, cols: slices.Concat(
			people("ServiceTreatmentID", fromClient, fromUser, fromSpecialist, fromLine), span)},
		"GetHistoryOfServiceChat": {perDay: 40, cols: []histCol{hcol(idCol("ServiceTreatmentID"), fromParent),
			hcol(idCol("ServiceUserID"), fromUser), hcol(idCol("SpecialistID"), fromSpecialist),
			hcol(timeCol("Start"), fromStart), hcol(strCol("Text", 0), fromText)}},
		"GetHistoryOfAgentSessions": {perDay: 6, cols: slices.Concat(
			people("AgentSessionID", fromSpecialist), span)},
		"GetHistoryOfSIPCalls": {perDay: 12, cols: slices.Concat(
			people("SIPCallID", fromSpecialist), span, []histCol{hcol(decCol("Duration"), fromSeconds)})},
		"GetHistoryOfServiceRASessions": {perDay: 4, cols: slices.Concat(
			people("ServiceRASessionID", fromClient, fromUser, fromSpecialist), span)},
		"GetHistoryOfServiceFileTransfer": {perDay: 4, cols: slices.Concat(
			people("ServiceFileTransferID", fromUser, fromSpecialist),
			[]histCol{hcol(timeCol("Start"), fromStart), hcol(strCol("FileName", 0), fromFileName), hcol(decCol("Size"), fromSize)})},
		"GetHistoryOfServiceCallsComments":      comment("ServiceCallID"),
		"GetHistoryOfServiceTreatmentsComments": comment("ServiceTreatmentID"),
		"GetHistoryOfServiceRASessionsComments": comment("ServiceRASessionID"),
		"GetClientUsageStatistics": stat(8, hcol(idCol("ClientID"), fromClient), hcol(idCol("ServiceUserID"), fromUser),
			hcol(timeCol("Date"), fromStart), hcol(anyCol("Value"), fromValue)),
		"StartPictureClicksHistoryRead": stat(8, hcol(idCol("StartPictureID"), fromPicture),
			hcol(idCol("ServiceUserID"), fromUser), hcol(timeCol("Date"), fromStart)),
		"StorefrontProductClicksHistoryRead": stat(8, hcol(idCol("ProductID"), fromProduct),
			hcol(idCol("ServiceUserID"), fromUser), hcol(timeCol("Date"), fromStart)),
	}
}()

// event is one generated event: when it started, how long it lasted,
// and the seed its cells are drawn from.
type event struct {
	at     time.Time
	length time.Duration
	seed   uint64
}

// history is the generated history of a Server: its start, its pools of
// ids, and how its events are drawn. It is read-only once made, and safe
// for concurrent use.
type history struct {
	seed   uint64
	start  time.Time // local midnight of the first day; zero: no history
	loc    *time.Location
	perDay int // Config.HistoryPerDay; 0: each read's own
	pools  map[source][]string
}

// newHistory makes the history of a Server made now, of days days before
// today; days 0 makes none (reads answer empty tables).
func newHistory(cfg Config, now time.Time) *history {
	h := &history{seed: uint64(cfg.Seed), loc: cfg.Location, perDay: cfg.HistoryPerDay, pools: map[source][]string{}}
	if cfg.SeedHistory <= 0 {
		return h
	}
	y, m, d := now.In(cfg.Location).Date()
	h.start = time.Date(y, m, d-cfg.SeedHistory, 0, 0, 0, 0, cfg.Location)
	rng := rand.New(rand.NewPCG(h.seed, 0x9e3779b97f4a7c15))
	for _, src := range slices.Sorted(maps.Keys(pooled)) {
		ids := make([]string, pooled[src])
		for i := range ids {
			ids[i] = uuidFrom(rng)
		}
		h.pools[src] = ids
	}
	return h
}

// salt is a read's part of its events' seeds.
func salt(op string) uint64 {
	f := fnv.New64a()
	_, _ = io.WriteString(f, op)
	return f.Sum64()
}

// day draws the events of op's history on the local day starting at
// dayStart, sorted by start: a pure function of the seed, op and the
// date. A day before the history's start has none.
func (h *history) day(op string, spec historySpec, dayStart time.Time) []event {
	if h.start.IsZero() || dayStart.Before(h.start) {
		return nil
	}
	y, m, d := dayStart.Date()
	rng := rand.New(rand.NewPCG(h.seed^salt(op), uint64(y*10000+int(m)*100+d)))
	perDay := cmp.Or(h.perDay, spec.perDay)
	n := rng.IntN(2*perDay + 1) // perDay on average
	seconds := int64(dayStart.AddDate(0, 0, 1).Sub(dayStart) / time.Second)
	out := make([]event, n)
	for i := range out {
		out[i] = event{
			at:     dayStart.Add(time.Duration(rng.Int64N(seconds)) * time.Second),
			length: minEventLength + time.Duration(rng.Int64N(int64((MaxEventLength-minEventLength)/time.Second)+1))*time.Second,
			seed:   rng.Uint64(),
		}
	}
	slices.SortStableFunc(out, func(a, b event) int { return a.at.Compare(b.at) })
	return out
}

// events yields op's events that started in [from, to), day by day, in
// order of start.
func (h *history) events(op string, spec historySpec, from, to time.Time) iter.Seq[event] {
	return func(yield func(event) bool) {
		if h.start.IsZero() || !from.Before(to) {
			return
		}
		from = from.In(h.loc)
		if from.Before(h.start) {
			from = h.start
		}
		y, m, d := from.Date()
		for day := time.Date(y, m, d, 0, 0, 0, 0, h.loc); day.Before(to); day = day.AddDate(0, 0, 1) {
			for _, e := range h.day(op, spec, day) {
				if e.at.Before(from) || !e.at.Before(to) {
					continue
				}
				if !yield(e) {
					return
				}
			}
		}
	}
}

// texts are the messages and comments of the generated history.
var texts = []string{
	"Добрый день! Не формируется отчёт, подскажите, пожалуйста.",
	"Спасибо, всё работает.",
	"Обновили конфигурацию, проверьте ещё раз.",
	"Перезвоните, пожалуйста, после обеда.",
	"Ошибка при проведении документа",
	"Консультация по учёту НДС",
}

// cells draws the row of e in spec's columns into row (len(spec.cols)).
// rng is reseeded from e: the same event, the same row.
func (h *history) cells(op string, spec historySpec, e event, pcg *rand.PCG, rng *rand.Rand, row []soap.Value) {
	pcg.Seed(e.seed, salt(op))
	for i, c := range spec.cols {
		switch c.from {
		case fromOwnID:
			row[i] = soap.String(uuidFrom(rng))
		case fromStart:
			row[i] = soap.DateTime(e.at.In(h.loc))
		case fromEnd:
			row[i] = soap.DateTime(e.at.Add(e.length).In(h.loc))
		case fromSeconds:
			row[i] = soap.Int(int64(e.length / time.Second))
		case fromText:
			row[i] = soap.String(fmt.Sprintf("%s (№%d)", texts[rng.IntN(len(texts))], rng.IntN(10000)))
		case fromFileName:
			row[i] = soap.String(fmt.Sprintf("Выписка_%04d.pdf", rng.IntN(10000)))
		case fromSize:
			row[i] = soap.Int(1024 + rng.Int64N(20<<20))
		case fromValue:
			row[i] = soap.Int(rng.Int64N(100))
		default:
			pool := h.pools[c.from]
			row[i] = soap.String(pool[rng.IntN(len(pool))])
		}
	}
}

// historyAnswer is the ResultData of a history read: the events of op
// that started in [from, to), were over by now and pass the filters,
// drawn as they are written (after the Server's lock is released: the
// history never changes).
type historyAnswer struct {
	h        *history
	op       string
	spec     historySpec
	from, to time.Time
	now      time.Time
	// filters are the given parameters that name one of the columns,
	// by column index: a row must have that value (ids in any case).
	filters map[int]string
	// n counts the rows written.
	n int
}

// rows yields the answer's rows; the slice is reused for the next row.
func (a *historyAnswer) rows(yield func([]soap.Value) bool) {
	row := make([]soap.Value, len(a.spec.cols))
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	for e := range a.h.events(a.op, a.spec, a.from, a.to) {
		if e.at.Add(e.length).After(a.now) {
			continue // not over yet: not in the history
		}
		a.h.cells(a.op, a.spec, e, pcg, rng, row)
		if !a.passes(row) {
			continue
		}
		a.n++
		if !yield(row) {
			return
		}
	}
}

func (a *historyAnswer) passes(row []soap.Value) bool {
	for i, want := range a.filters {
		if !strings.EqualFold(row[i].Text, want) {
			return false
		}
	}
	return true
}

func (a *historyAnswer) write(w io.Writer, v soap.Version, op string) error {
	return soap.EncodeResponseRows(w, v, op, columnsOf(historyColumns(a.spec)), a.rows)
}

func (a *historyAnswer) count() int { return a.n }

// historyColumns are the columns of op's history, in order.
func historyColumns(spec historySpec) []column {
	cols := make([]column, len(spec.cols))
	for i, c := range spec.cols {
		cols[i] = c.column
	}
	return cols
}

// periodRead answers a read of a period: PeriodFrom and PeriodTo are
// required, the first not after the second; a period longer than the
// read's bound (by day or at night, by the hour of the call; the
// catalogue's, or Config.PeriodBounds') is refused with a SOAP Fault
// after the call was counted. The answer is the history's events that
// started in [PeriodFrom, PeriodTo) and are over, filtered by every other
// parameter that names a column.
//
// How the service refuses a period that is too long is not published:
// the Fault (HTTP 500, the service raising an exception) and its words
// are assumed.
func (c *call) periodRead(p catalog.Period, spec historySpec, given map[string]soap.Value) outcome {
	from, to, bad := c.period(p, given)
	if bad != nil {
		return *bad
	}
	a := &historyAnswer{h: c.s.history, op: c.op.Name, spec: spec, from: from, to: to, now: c.now, filters: map[int]string{}}
	for name, v := range given {
		if name == p.From || name == p.To {
			continue
		}
		for i, col := range spec.cols {
			if col.name == name {
				a.filters[i] = v.Text
			}
		}
	}
	c.answer = a
	return success(soap.Null())
}

// period reads and checks the period of a period read: both bounds
// given, in order, no longer than the operation's bound (by day or at
// night, or Config.PeriodBounds). A longer one is refused with a SOAP
// Fault (assumed: the service's form of the refusal is not published);
// bad is the outcome then.
func (c *call) period(p catalog.Period, given map[string]soap.Value) (from, to time.Time, bad *outcome) {
	loc := c.s.cfg.Location
	var bounds [2]time.Time
	for i, name := range []string{p.From, p.To} {
		v, ok := given[name]
		if !ok {
			o := c.counted(failure(CodeInvalidParameter, "%s: required", name))
			return from, to, &o
		}
		t, err := v.TimeValue(loc)
		if err != nil {
			o := c.counted(failure(CodeInvalidParameter, "%s: %v", name, err))
			return from, to, &o
		}
		bounds[i] = t
	}
	from, to = bounds[0], bounds[1]
	if to.Before(from) {
		o := c.counted(failure(CodeInvalidParameter, "%s: before %s", p.To, p.From))
		return from, to, &o
	}
	night := c.s.cfg.Night.Contains(c.now.In(loc).Hour())
	limit := p.Max(night)
	if d, ok := c.s.cfg.PeriodBounds[c.op.Name]; ok {
		limit = d
	}
	if to.Sub(from) > limit {
		when := "by day"
		if night {
			when = "at night"
		}
		c.fault = fmt.Sprintf("%s: the period may not exceed %s %s (asked for %s from %s)",
			c.op.Name, limit, when, to.Sub(from), from.Format(soap.DateTimeLayout))
		return from, to, &outcome{}
	}
	return from, to, nil
}

// HistoryRow is one row of a generated history, as a read answers it.
type HistoryRow struct {
	// Start is when the event started, in the account's zone: its place
	// in a period.
	Start time.Time
	// Row holds the cells by column name.
	Row map[string]soap.Value
}

// History returns every row of op's generated history that started in
// [from, to), in order, whether it is over yet or not (a read answers an
// event once it is over: see MaxEventLength), unfiltered: what exports of
// that period must have delivered. An operation without a generated
// history is an error.
func (s *Server) History(op string, from, to time.Time) ([]HistoryRow, error) {
	spec, ok := historySpecs[op]
	if !ok {
		return nil, fmt.Errorf("emulator: history: %q has no generated history (one of the catalogue's period reads but GetHistoryOfColleaguesChat)", op)
	}
	var out []HistoryRow
	row := make([]soap.Value, len(spec.cols))
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	for e := range s.history.events(op, spec, from, to) {
		s.history.cells(op, spec, e, pcg, rng, row)
		r := HistoryRow{Start: e.at, Row: make(map[string]soap.Value, len(row))}
		for i, c := range spec.cols {
			r.Row[c.name] = row[i]
		}
		out = append(out, r)
	}
	return out, nil
}
