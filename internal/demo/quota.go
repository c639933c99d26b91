package demo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// QuotaRow is one operation's line of `worker quota`.
type QuotaRow struct {
	Op                     string
	Limit, Used, Remaining int
}

// Quota is what `worker quota` printed: its window line and the
// operations that made calls in the window.
type Quota struct {
	// Window is the first line, e.g. "window 2026-11-29 00:00:00 – 01:00:00
	// MSK (1h0m0s), night hours: none".
	Window string
	Rows   []QuotaRow
}

// Span is the window's start and end from its line, e.g.
// "2026-11-29 00:00:00 – 01:00:00 MSK".
func (q Quota) Span() string {
	span := strings.TrimPrefix(q.Window, "window ")
	span, _, _ = strings.Cut(span, " (")
	return span
}

// Row returns op's row, and whether it made calls in the window.
func (q Quota) Row(op string) (QuotaRow, bool) {
	for _, r := range q.Rows {
		if r.Op == op {
			return r, true
		}
	}
	return QuotaRow{}, false
}

// ParseQuota reads the output of `worker quota`: a window line, a blank
// line, a table headed OPERATION LIMIT USED REMAINING STATE RESETS IN,
// one row per operation that made calls, and a closing sentence.
func ParseQuota(r io.Reader) (Quota, error) {
	var q Quota
	sc := bufio.NewScanner(r)
	inTable := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case q.Window == "" && strings.HasPrefix(line, "window "):
			q.Window = line
		case len(f) > 0 && f[0] == "OPERATION":
			if len(f) < 4 || f[1] != "LIMIT" || f[2] != "USED" || f[3] != "REMAINING" {
				return q, fmt.Errorf("demo: quota: unexpected header %q", line)
			}
			inTable = true
		case inTable && line == "":
			inTable = false
		case inTable:
			if len(f) < 4 {
				return q, fmt.Errorf("demo: quota: row %q has %d columns, want at least 4", line, len(f))
			}
			row := QuotaRow{Op: f[0]}
			for i, p := range []*int{&row.Limit, &row.Used, &row.Remaining} {
				v, err := strconv.Atoi(f[i+1])
				if err != nil {
					return q, fmt.Errorf("demo: quota: row of %s: column %d is not a number", f[0], i+2)
				}
				*p = v
			}
			q.Rows = append(q.Rows, row)
		}
	}
	if err := sc.Err(); err != nil {
		return q, fmt.Errorf("demo: quota: %w", err)
	}
	if q.Window == "" {
		return q, errors.New("demo: quota: no window line: is this the output of `worker quota`?")
	}
	return q, nil
}
