package enqueue

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// IsTerminal reports whether w is a terminal, by the same test the
// progress display makes: only a terminal gets the bars.
func IsTerminal(w io.Writer) bool {
	return w != nil && cupwriter.New(w, false).IsTerminal()
}

// sameTerminal reports whether a and b are one terminal, as stdout and
// stderr are when neither is redirected.
func sameTerminal(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 || !IsTerminal(fa) || !IsTerminal(fb) {
		return false
	}
	sa, err1 := fa.Stat()
	sb, err2 := fb.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// counts is what the bars show of a run.
type counts struct {
	// published is the publishes acknowledged (duplicates included), of
	// total in the source (0: unknown).
	published, total int
	// results is the results received, of expected.
	results, expected int
	// sent reports that every publish was acknowledged or failed.
	sent bool
}

// display draws a run's progress on a terminal: a bar of the commands
// published and, when waiting, a bar of the results and the estimate
// line, each bar with its rate. Lines written through above() while it
// runs (notes, results on the same terminal) go above the bars; once
// stopped, straight to their writer.
type display struct {
	p        *mpb.Progress
	pub, res *mpb.Bar
	est      *mpb.Bar // nil when not waiting
	start    time.Time
	now      func() time.Time

	mu   sync.Mutex // protects c, sent, e, hasE; never held while calling mpb
	c    counts
	sent time.Time // when publishing ended: its rate stops there
	e    Estimate
	hasE bool

	wmu    sync.RWMutex // protects active
	active bool
}

// newDisplay starts the bars on w, refreshed every refresh; nil when w
// is not a terminal (force draws anyway, for tests).
func newDisplay(w io.Writer, wait bool, refresh time.Duration, now func() time.Time, force bool) *display {
	if !force && !IsTerminal(w) {
		return nil
	}
	d := &display{start: now(), now: now, active: true}
	d.p = mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(refresh),
		mpb.ContainerOptional(mpb.ForceTTY(), force), mpb.ContainerOptional(mpb.WithAutoRefresh(), force))
	label := func(s string) decor.Decorator {
		return decor.Name(s, decor.WC{W: len("published") + 1, C: decor.DindentRight})
	}
	// Bars are made with no total, so that reaching one never completes
	// them: totals change as the source is read; stop completes them.
	d.pub = d.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(label("published")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return d.line(true) })))
	if wait {
		d.res = d.p.New(0, mpb.BarStyle(),
			mpb.PrependDecorators(label("results")),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return d.line(false) })))
		d.est = d.p.New(0, mpb.NopStyle(),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return d.estimateLine() })))
	}
	return d
}

// line is the text after a bar: "1234/10000  56/s".
func (d *display) line(published bool) string {
	d.mu.Lock()
	n, of, until := d.c.results, d.c.expected, d.now()
	if published {
		n, of = d.c.published, d.c.total
		if !d.sent.IsZero() {
			until = d.sent
		}
	}
	d.mu.Unlock()
	s := fmt.Sprintf(" %d", n)
	if of > 0 {
		s += fmt.Sprintf("/%d", of)
	}
	return s + "  " + rate(n, until.Sub(d.start))
}

// estimateLine is the estimate as of now.
func (d *display) estimateLine() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hasE {
		return "estimating when the last result comes…"
	}
	return d.e.Text(d.now())
}

// rate writes n per elapsed as a person reads it: "56/s", "3.5/s",
// "12/min", "40/h".
func rate(n int, elapsed time.Duration) string {
	if elapsed <= 0 || n == 0 {
		return "0/s"
	}
	per := float64(n) / elapsed.Seconds()
	switch {
	case per >= 10:
		return fmt.Sprintf("%.0f/s", per)
	case per >= 1:
		return fmt.Sprintf("%.1f/s", per)
	case per*60 >= 1:
		return fmt.Sprintf("%.1f/min", per*60)
	}
	return fmt.Sprintf("%.1f/h", per*3600)
}

// update shows c.
func (d *display) update(c counts) {
	d.mu.Lock()
	d.c = c
	justSent := c.sent && d.sent.IsZero()
	if justSent {
		d.sent = d.now()
	}
	d.mu.Unlock()
	set := func(b *mpb.Bar, n, of int) {
		b.SetCurrent(int64(n))
		b.SetTotal(int64(max(of, n)), false)
	}
	set(d.pub, c.published, c.total)
	if justSent {
		endBar(d.pub, c.published, c.total)
	}
	if d.res != nil {
		set(d.res, c.results, c.expected)
	}
}

// endBar ends b at n of of: completed when it got to its end; an
// interrupted run, or one with results missing, stays where it stopped.
// A bar ended already stays as it is.
func endBar(b *mpb.Bar, n, of int) {
	if of <= 0 || n >= of {
		b.SetTotal(-1, true)
	} else {
		b.Abort(false)
	}
}

// setEstimate shows e on the estimate line.
func (d *display) setEstimate(e Estimate) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.e, d.hasE = e, true
}

// stop draws the bars a last time, drops the estimate line and returns
// once the terminal is left to the lines that follow (the summary).
func (d *display) stop() {
	// Writers wait meanwhile: a line written straight to the terminal
	// while the last frame is drawn would be drawn over.
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.active = false
	if d.est != nil {
		d.est.Abort(true)
	}
	d.mu.Lock()
	c := d.c
	d.mu.Unlock()
	endBar(d.pub, c.published, c.total)
	if d.res != nil {
		endBar(d.res, c.results, c.expected)
	}
	d.p.Wait()
}

// above returns a writer that writes to w, above the bars while they
// are drawn. A nil display returns w.
func (d *display) above(w io.Writer) io.Writer {
	if d == nil {
		return w
	}
	return aboveBars{d: d, w: w}
}

// aboveBars writes above a display's bars while it runs.
type aboveBars struct {
	d *display
	w io.Writer
}

func (a aboveBars) Write(b []byte) (int, error) {
	a.d.wmu.RLock()
	defer a.d.wmu.RUnlock()
	if a.d.active {
		return a.d.p.Write(b)
	}
	return a.w.Write(b)
}
