package batcher

import (
	"errors"
	"slices"
	"time"
)

// Config configures a Batcher. Zero fields take the defaults given.
type Config struct {
	// MaxRows is the most rows in one packet. Defaults to 100, the API's
	// usual packet limit; 1 sends every row alone.
	MaxRows int
	// MaxWait is how long the oldest command of a packet may wait for the
	// packet to fill before it is sent anyway. Defaults to 2s. Negative
	// means no wait: a packet is ready as soon as it holds a row.
	MaxWait time.Duration
	// Collapse makes consecutive waiting commands of one key and one shape
	// one row, carrying the last one's value (see Item.Collapsed). Only for
	// operations where sending the last of such a run leaves the object as
	// sending each in turn would (the Edit family). Off by default: every
	// command is its own row.
	Collapse bool
}

// Item is one row as the batcher sees it: a command, and the earlier
// commands it carries when Config.Collapse merged them into it.
type Item[T any] struct {
	// Key identifies the object the command touches (e.g. its ClientUserID).
	// Commands with the same non-empty key are sent in arrival order, one
	// row at a time. Empty means the command is ordered with nothing and
	// never collapses.
	Key string
	// Shape is the command's set of fields, as one string. Only rows of
	// the same shape share a packet, and only commands of the same shape
	// collapse.
	Shape string
	// Arrived is when the command was first added; requeued commands keep
	// it, so they are due at once. A row is due from the arrival of its
	// first command (Collapsed[0] when it carries any).
	Arrived time.Time
	// Value is the caller's command: for a row, the one that is sent.
	Value T
	// Collapsed are the earlier commands of the same key and shape that
	// this row carries, in arrival order, each with its own Key, Shape,
	// Arrived and Value and no Collapsed of its own. They are not sent:
	// the row's Value stands for them, and each of them gets the row's
	// result. Empty unless Config.Collapse is set.
	Collapsed []Item[T]
}

// Packet is a group of rows to send in one call, in order.
type Packet[T any] struct {
	Shape string
	Items []Item[T]
}

// Batcher assembles packets for one operation. It is not safe for
// concurrent use: one goroutine owns it.
type Batcher[T any] struct {
	cfg Config
	// groups are the rows that may go in the next packet of their shape,
	// by shape; a group is never empty (cut deletes it).
	groups map[string]*group[T]
	// split are packets cut by Split or given back by Return, sent before
	// everything else.
	split []Packet[T]
	// keys has a chain for every key with an unfinished row (see
	// order.go); spare are ended chains kept for reuse, at most MaxRows
	// (what one packet's Done frees), so that a busy key costs no
	// allocation once the batcher runs.
	keys  map[string]*chain[T]
	spare []*chain[T]
	// shapes counts, per shape, the rows in groups and held (see
	// demand.go).
	shapes map[string]*tally
	// n counts the commands in groups, split and held, collapsed ones
	// included; held counts those in chains' held queues; rows counts the
	// rows in groups and held queues.
	n, held, rows int
}

// group is the open packet of one shape; it may hold more than MaxRows
// rows, and Next cuts packets from its front.
type group[T any] struct {
	items []slot[T]
}

// slot is one row of a group. The row of a key that may still take
// commands (its chain is open) lives in the chain, so that Add can merge
// into it without searching the group: c is set then, and it is unused.
type slot[T any] struct {
	it Item[T]
	c  *chain[T]
}

// row returns the slot's row.
func (s *slot[T]) row() *Item[T] {
	if s.c != nil {
		return &s.c.row
	}
	return &s.it
}

// New returns an empty Batcher.
func New[T any](cfg Config) (*Batcher[T], error) {
	if cfg.MaxRows == 0 {
		cfg.MaxRows = 100
	}
	if cfg.MaxRows < 0 {
		return nil, errors.New("batcher: MaxRows must be positive")
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 2 * time.Second
	}
	return &Batcher[T]{
		cfg:    cfg,
		groups: map[string]*group[T]{},
		keys:   map[string]*chain[T]{},
		shapes: map[string]*tally{},
	}, nil
}

// Config returns the configuration in effect, defaults applied.
func (b *Batcher[T]) Config() Config { return b.cfg }

// Len returns how many commands the batcher holds: every command, a
// collapsed one too, until it leaves in a packet. Rows counts them as they
// would be sent.
func (b *Batcher[T]) Len() int { return b.n }

// Held returns how many commands wait behind an unfinished row of their
// key: they cannot go in the next packet.
func (b *Batcher[T]) Held() int { return b.held }

// Rows returns how many rows the commands held make, collapsed ones
// counted in the row that carries them: what sending them all takes in
// rows.
func (b *Batcher[T]) Rows() int {
	n := b.rows
	for _, p := range b.split {
		n += len(p.Items)
	}
	return n
}

// Add takes a new command. It reports whether a full packet is now ready.
// A command whose key has an unfinished row is held until Done for that
// key releases it, or, with Config.Collapse, joins the row of its key and
// shape that has not been sent yet (see Item.Collapsed).
func (b *Batcher[T]) Add(it Item[T]) bool {
	b.n += size(it)
	if it.Key == "" {
		b.count(nil, it.Shape, 1)
		return b.join(slot[T]{it: it})
	}
	c := b.keys[it.Key]
	if c == nil {
		c = b.chainFor(it.Key)
		c.open, c.row = true, it
		b.count(c, it.Shape, 1)
		return b.join(slot[T]{c: c})
	}
	b.hold(c, it)
	return false
}

// join puts a row at the end of its shape's group and reports whether
// that group can fill a packet.
func (b *Batcher[T]) join(s slot[T]) bool {
	g := b.group(s.row().Shape)
	g.items = append(g.items, s)
	return len(g.items) >= b.cfg.MaxRows
}

// group returns the group of a shape, made if need be.
func (b *Batcher[T]) group(shape string) *group[T] {
	g := b.groups[shape]
	if g == nil {
		g = &group[T]{}
		b.groups[shape] = g
	}
	return g
}

// front puts rows, in their order, before every row of their shape.
func (b *Batcher[T]) front(rows []Item[T]) {
	for end := len(rows); end > 0; {
		start := end - 1
		for start > 0 && rows[start-1].Shape == rows[end-1].Shape {
			start--
		}
		ins := make([]slot[T], end-start)
		for i := range ins {
			ins[i].it = rows[start+i]
		}
		g := b.group(rows[start].Shape)
		g.items = slices.Insert(g.items, 0, ins...)
		end = start
	}
}

// Next returns the packet to send now, if any: first the packets of Split
// and Return, then, of the groups that are ready, the one whose oldest row
// has waited longest. A group is ready when it can fill a packet, or when
// its oldest row has waited MaxWait and it has at least minRows rows.
// minRows lets the caller hold partial packets back while calls are
// scarce; minRows <= 1 is the usual rule.
func (b *Batcher[T]) Next(now time.Time, minRows int) (Packet[T], bool) {
	if len(b.split) > 0 {
		p := b.split[0]
		b.split[0] = Packet[T]{}
		b.split = b.split[1:]
		for _, it := range p.Items {
			b.handOut(it)
		}
		return p, true
	}
	w := b.walk(now, minRows, false)
	if w.g == nil {
		return Packet[T]{}, false
	}
	return b.cut(w.shape, w.g), true
}

// cut takes up to MaxRows rows from the front of a group.
func (b *Batcher[T]) cut(shape string, g *group[T]) Packet[T] {
	k := min(len(g.items), b.cfg.MaxRows)
	p := Packet[T]{Shape: shape, Items: make([]Item[T], k)}
	for i := range p.Items {
		s := &g.items[i]
		p.Items[i] = *s.row()
		if s.c != nil {
			// The open row is sent: nothing joins it any more.
			s.c.open, s.c.row = false, Item[T]{}
		}
		b.count(b.handOut(p.Items[i]), shape, -1)
	}
	clear(g.items[:k])
	g.items = g.items[k:]
	if len(g.items) == 0 {
		delete(b.groups, shape)
	}
	return p
}

// Flush returns every packet the batcher could send, ready or not: the
// packets of Split and Return first, then the open groups, oldest first.
// Held commands stay. It is what a shutdown sends or hands back.
func (b *Batcher[T]) Flush() []Packet[T] {
	out := b.split
	b.split = nil
	for _, p := range out {
		for _, it := range p.Items {
			b.handOut(it)
		}
	}
	for len(b.groups) > 0 {
		w := b.walk(time.Time{}, 0, true)
		out = append(out, b.cut(w.shape, w.g))
	}
	return out
}

// walked is what one walk over the groups found.
type walked[T any] struct {
	// g is the oldest group ready at the walk's time (nil if none), shape
	// its shape.
	g     *group[T]
	shape string
	// soonest is the earliest time a group is ready (zero: now); some
	// reports whether any group will be ready by itself.
	soonest time.Time
	some    bool
}

// walk is the one walk over the groups: it finds the oldest group that is
// ready at now under minRows (any group when all is set), and when the
// first group is ready. Next, Ready, UntilNext and Flush all choose
// through it.
func (b *Batcher[T]) walk(now time.Time, minRows int, all bool) walked[T] {
	var w walked[T]
	for shape, g := range b.groups {
		at, ok := b.due(g, minRows)
		if !ok && !all {
			continue
		}
		if !w.some || at.Before(w.soonest) {
			w.soonest, w.some = at, true
		}
		if !all && now.Before(at) {
			continue
		}
		if w.g == nil || earlier(g, w.g, shape, w.shape) {
			w.g, w.shape = g, shape
		}
	}
	return w
}

// due returns when a group is ready under minRows: the zero time when it
// is ready at any time (it can fill a packet, or there is no MaxWait), and
// ok=false when it is not ready whatever the time (fewer than minRows
// rows).
func (b *Batcher[T]) due(g *group[T], minRows int) (at time.Time, ok bool) {
	switch {
	case len(g.items) >= b.cfg.MaxRows:
		return time.Time{}, true
	case minRows > 1 && len(g.items) < minRows:
		return time.Time{}, false
	case b.cfg.MaxWait < 0:
		return time.Time{}, true
	}
	return since(g.items[0].row()).Add(b.cfg.MaxWait), true
}

// earlier orders groups by their oldest row, then by shape, so that
// choices never depend on map order.
func earlier[T any](g, than *group[T], shape, thanShape string) bool {
	a, b := since(g.items[0].row()), since(than.items[0].row())
	return a.Before(b) || a.Equal(b) && shape < thanShape
}

// since is when a row started waiting: its first command's arrival.
func since[T any](it *Item[T]) time.Time {
	if len(it.Collapsed) > 0 && it.Collapsed[0].Arrived.Before(it.Arrived) {
		return it.Collapsed[0].Arrived
	}
	return it.Arrived
}

// size is how many commands a row is.
func size[T any](it Item[T]) int { return 1 + len(it.Collapsed) }

// UntilNext returns how long until Next can return a packet under the
// usual rule (minRows <= 1): zero when one is ready now, and ok=false when
// the batcher holds nothing that will become ready by itself (it is empty,
// or holds only commands waiting for Done).
func (b *Batcher[T]) UntilNext(now time.Time) (d time.Duration, ok bool) {
	if len(b.split) > 0 {
		return 0, true
	}
	w := b.walk(now, 0, false)
	if !w.some {
		return 0, false
	}
	return max(0, w.soonest.Sub(now)), true
}

// Ready returns how many rows the packet Next(now, 0) would return holds,
// 0 when none is ready: the fill a call would have if made now.
func (b *Batcher[T]) Ready(now time.Time) int {
	if len(b.split) > 0 {
		return len(b.split[0].Items)
	}
	w := b.walk(now, 0, false)
	if w.g == nil {
		return 0
	}
	return min(len(w.g.items), b.cfg.MaxRows)
}

// Requeue takes back rows of a packet that must be sent again (rows the
// service did not process, or a call to repeat), unchanged: a collapsed
// row stays one row. They go before newer rows of their shape, keep their
// keys busy, and keep their arrival times, so they are due at once. A row
// that was sent never takes further commands.
func (b *Batcher[T]) Requeue(items []Item[T]) {
	for _, it := range items {
		b.count(b.back(it), it.Shape, 1)
	}
	b.front(items)
}

// Split takes back the rows of a packet that failed as a whole and queues
// them again as two packets of half the size each, sent before anything
// else, so that a row that breaks its packet ends up alone. A single row
// is queued alone, unchanged (Expand sends a collapsed row's commands one
// by one).
func (b *Batcher[T]) Split(p Packet[T]) {
	if len(p.Items) == 0 {
		return
	}
	h := (len(p.Items) + 1) / 2
	halves := []Packet[T]{{Shape: p.Shape, Items: p.Items[:h:h]}}
	if h < len(p.Items) {
		halves = append(halves, Packet[T]{Shape: p.Shape, Items: p.Items[h:]})
	}
	b.split = append(halves, b.split...)
	for _, it := range p.Items {
		b.back(it)
	}
}

// Return takes back a packet from Next that was not sent after all (no
// call could be made): it is the next packet Next returns, unchanged.
func (b *Batcher[T]) Return(p Packet[T]) {
	if len(p.Items) == 0 {
		return
	}
	b.split = append([]Packet[T]{p}, b.split...)
	for _, it := range p.Items {
		b.back(it)
	}
}
