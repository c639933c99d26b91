package emulator

import (
	"archive/zip"
	"bytes"
	"fmt"
	"html"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// The colleagues' chat: GetHistoryOfColleaguesChat answers, as third-party
// clients read it, a base64 ZIP of HTML files, one per pair of people per
// day, named ChatHistory/ChatHistory_Collegue_<id1>_<id2>_<date>.html.
// The sandbox draws it like the other histories: a pure function of the
// seed and the date, among the history's specialists, a message placed in
// a period by its time and answered once that time has passed.

// colleaguesOp is the read of the colleagues' chat.
const colleaguesOp = "GetHistoryOfColleaguesChat"

// colleaguesLine is one message of the colleagues' chat.
type colleaguesLine struct {
	at       time.Time
	from, to string
	text     string
}

// colleaguesDay draws the messages of the day starting at dayStart, by
// pair ("<id1>_<id2>", the ids in order), each pair's in order of time.
func (h *history) colleaguesDay(dayStart time.Time) map[string][]colleaguesLine {
	if h.start.IsZero() || dayStart.Before(h.start) {
		return nil
	}
	y, m, d := dayStart.Date()
	rng := rand.New(rand.NewPCG(h.seed^salt(colleaguesOp), uint64(y*10000+int(m)*100+d)))
	people := h.pools[fromSpecialist]
	seconds := int64(dayStart.AddDate(0, 0, 1).Sub(dayStart) / time.Second)
	out := map[string][]colleaguesLine{}
	for range rng.IntN(4) { // pairs that chatted that day
		a, b := people[rng.IntN(len(people))], people[rng.IntN(len(people))]
		if a == b {
			continue
		}
		pair := min(a, b) + "_" + max(a, b)
		for range 2 + rng.IntN(5) {
			from, to := a, b
			if rng.IntN(2) == 0 {
				from, to = b, a
			}
			out[pair] = append(out[pair], colleaguesLine{
				at:   dayStart.Add(time.Duration(rng.Int64N(seconds)) * time.Second),
				from: from, to: to,
				text: fmt.Sprintf("%s (№%d)", texts[rng.IntN(len(texts))], rng.IntN(10000)),
			})
		}
	}
	for pair := range out {
		slices.SortStableFunc(out[pair], func(x, y colleaguesLine) int { return x.at.Compare(y.at) })
	}
	return out
}

// colleaguesFiles returns the chat's HTML files of the messages sent in
// [from, to) and before now, by name.
func (h *history) colleaguesFiles(from, to, now time.Time) map[string]string {
	files := map[string]string{}
	if h.start.IsZero() || !from.Before(to) {
		return files
	}
	from = from.In(h.loc)
	if from.Before(h.start) {
		from = h.start
	}
	y, m, d := from.Date()
	for day := time.Date(y, m, d, 0, 0, 0, 0, h.loc); day.Before(to); day = day.AddDate(0, 0, 1) {
		byPair := h.colleaguesDay(day)
		for _, pair := range slices.Sorted(maps.Keys(byPair)) {
			var b strings.Builder
			n := 0
			for _, l := range byPair[pair] {
				if l.at.Before(from) || !l.at.Before(to) || l.at.After(now) {
					continue
				}
				if n == 0 {
					fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Переписка %s</title></head><body>\n", day.Format(soap.DateLayout))
				}
				n++
				fmt.Fprintf(&b, "<p><b>%s</b> %s → %s: %s</p>\n", l.at.Format("15:04:05"), l.from, l.to, html.EscapeString(l.text))
			}
			if n == 0 {
				continue
			}
			b.WriteString("</body></html>\n")
			files[fmt.Sprintf("ChatHistory/ChatHistory_Collegue_%s_%s.html", pair, day.Format(soap.DateLayout))] = b.String()
		}
	}
	return files
}

// colleaguesZip packs files into a ZIP, in order of name, each stamped
// with its day: the same files, the same bytes.
func colleaguesZip(files map[string]string, loc *time.Location) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		stamp := time.Date(2000, 1, 1, 0, 0, 0, 0, loc)
		if i := strings.LastIndex(name, "_"); i >= 0 {
			if t, err := time.ParseInLocation(soap.DateLayout, strings.TrimSuffix(name[i+1:], ".html"), loc); err == nil {
				stamp = t
			}
		}
		// Writing to a buffer cannot fail.
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: stamp})
		_, _ = w.Write([]byte(files[name]))
	}
	_ = zw.Close()
	return b.Bytes()
}

// colleaguesRead answers GetHistoryOfColleaguesChat for the period given.
func (c *call) colleaguesRead(given map[string]soap.Value) outcome {
	p, _ := c.op.Period()
	from, to, bad := c.period(p, given)
	if bad != nil {
		return *bad
	}
	return success(soap.Binary(colleaguesZip(c.s.history.colleaguesFiles(from, to, c.now), c.s.cfg.Location)))
}

// ColleaguesChat returns the HTML files by name that
// GetHistoryOfColleaguesChat answers for [from, to) now: what an export
// of that period must have stored.
func (s *Server) ColleaguesChat(from, to time.Time) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.history.colleaguesFiles(from, to, s.stamp(s.cfg.Now()))
}
