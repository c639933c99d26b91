package batcher_test

import (
	"errors"
	"time"

	"github.com/onec-connect/connect-bridge/internal/batcher"
)

// legacy is the batcher as it was before collapse (commit 6003236),
// kept as the oracle that batcher.Config.Collapse=false behaves exactly as it did.
type legacy[T any] struct {
	cfg batcher.Config
	// groups are the open packets by shape; order lists their shapes
	// oldest first (a shape may appear after its group was emptied; stale
	// entries are skipped).
	groups map[string]*legacyGroup[T]
	// split are packets cut by Split, sent before everything else.
	split []batcher.Packet[T]
	// busy has the keys with an unfinished command; held has, per key, the
	// later commands waiting for it to finish, oldest first.
	busy map[string]struct{}
	held map[string][]batcher.Item[T]
	// n counts the commands in groups, split and held.
	n int
}

// group is the open packet of one shape; it may hold more than MaxRows
// commands, and Next cuts packets from its front.
type legacyGroup[T any] struct {
	items []batcher.Item[T]
}

// New returns an empty Batcher.
func newLegacy[T any](cfg batcher.Config) (*legacy[T], error) {
	if cfg.MaxRows == 0 {
		cfg.MaxRows = 100
	}
	if cfg.MaxRows < 0 {
		return nil, errors.New("legacy: MaxRows must be positive")
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 2 * time.Second
	}
	return &legacy[T]{
		cfg:    cfg,
		groups: map[string]*legacyGroup[T]{},
		busy:   map[string]struct{}{},
		held:   map[string][]batcher.Item[T]{},
	}, nil
}

// batcher.Config returns the configuration in effect, defaults applied.
func (b *legacy[T]) Config() batcher.Config { return b.cfg }

// Len returns how many commands the batcher holds.
func (b *legacy[T]) Len() int { return b.n }

// Held returns how many commands wait behind an unfinished command for the
// same key.
func (b *legacy[T]) Held() int {
	n := 0
	for _, h := range b.held {
		n += len(h)
	}
	return n
}

// Add takes a new command. It reports whether a full packet is now ready.
// A command whose key has an unfinished command is held until Done for
// that key.
func (b *legacy[T]) Add(it batcher.Item[T]) bool {
	b.n++
	if it.Key != "" {
		if _, ok := b.busy[it.Key]; ok {
			b.held[it.Key] = append(b.held[it.Key], it)
			return false
		}
		b.busy[it.Key] = struct{}{}
	}
	return b.join(it, false)
}

// join puts it at the end (or, for a requeue, the front) of its shape's
// group and reports whether that group can fill a packet.
func (b *legacy[T]) join(it batcher.Item[T], front bool) bool {
	g := b.groups[it.Shape]
	if g == nil {
		g = &legacyGroup[T]{}
		b.groups[it.Shape] = g
	}
	if front {
		g.items = append(g.items, batcher.Item[T]{})
		copy(g.items[1:], g.items)
		g.items[0] = it
	} else {
		g.items = append(g.items, it)
	}
	return len(g.items) >= b.cfg.MaxRows
}

// Next returns the packet to send now, if any: first the halves of split
// packets, then, of the groups that are ready, the one whose oldest command
// has waited longest. A group is ready when it can fill a packet, or when
// its oldest command has waited MaxWait and it has at least minRows
// commands. minRows lets the caller hold partial packets back while calls
// are scarce; minRows <= 1 is the usual rule.
func (b *legacy[T]) Next(now time.Time, minRows int) (batcher.Packet[T], bool) {
	if len(b.split) > 0 {
		p := b.split[0]
		b.split[0] = batcher.Packet[T]{}
		b.split = b.split[1:]
		b.n -= len(p.Items)
		return p, true
	}
	var best *legacyGroup[T]
	bestShape := ""
	for shape, g := range b.groups {
		if len(g.items) == 0 {
			continue
		}
		full := len(g.items) >= b.cfg.MaxRows
		if !full {
			if minRows > 1 && len(g.items) < minRows {
				continue
			}
			if b.cfg.MaxWait > 0 && now.Sub(g.items[0].Arrived) < b.cfg.MaxWait {
				continue
			}
		}
		if best == nil || legacyEarlier(g, best, shape, bestShape) {
			best, bestShape = g, shape
		}
	}
	if best == nil {
		return batcher.Packet[T]{}, false
	}
	return b.cut(bestShape, best), true
}

// cut takes up to MaxRows commands from the front of a group.
func (b *legacy[T]) cut(shape string, g *legacyGroup[T]) batcher.Packet[T] {
	k := min(len(g.items), b.cfg.MaxRows)
	p := batcher.Packet[T]{Shape: shape, Items: make([]batcher.Item[T], k)}
	copy(p.Items, g.items)
	clear(g.items[:k])
	g.items = g.items[k:]
	if len(g.items) == 0 {
		delete(b.groups, shape)
	}
	b.n -= k
	return p
}

// Flush returns every packet the batcher could send, ready or not: split
// halves first, then the open groups, oldest first. Held commands stay. It
// is what a shutdown sends or hands back.
func (b *legacy[T]) Flush() []batcher.Packet[T] {
	out := b.split
	b.split = nil
	for _, p := range out {
		b.n -= len(p.Items)
	}
	for len(b.groups) > 0 {
		var oldest *legacyGroup[T]
		shape := ""
		for s, g := range b.groups {
			if oldest == nil || legacyEarlier(g, oldest, s, shape) {
				oldest, shape = g, s
			}
		}
		out = append(out, b.cut(shape, oldest))
	}
	return out
}

// earlier orders groups by their oldest command, then by shape, so that
// choices never depend on map order.
func legacyEarlier[T any](g, than *legacyGroup[T], shape, thanShape string) bool {
	a, b := g.items[0].Arrived, than.items[0].Arrived
	return a.Before(b) || a.Equal(b) && shape < thanShape
}

// UntilNext returns how long until Next can return a packet under the
// usual rule (minRows <= 1): zero when one is ready now, and ok=false when
// the batcher holds nothing that will become ready by itself (it is empty,
// or holds only commands waiting for Done).
func (b *legacy[T]) UntilNext(now time.Time) (d time.Duration, ok bool) {
	if len(b.split) > 0 {
		return 0, true
	}
	for _, g := range b.groups {
		if len(g.items) == 0 {
			continue
		}
		wait := time.Duration(0)
		if len(g.items) < b.cfg.MaxRows && b.cfg.MaxWait > 0 {
			wait = max(0, g.items[0].Arrived.Add(b.cfg.MaxWait).Sub(now))
		}
		if !ok || wait < d {
			d, ok = wait, true
		}
	}
	return d, ok
}

// Requeue takes back commands of a packet that must be sent again (rows
// the service did not process, or a call to repeat). They go before newer
// commands of their shape, keep their keys busy, and keep their arrival
// times, so they are due at once.
func (b *legacy[T]) Requeue(items []batcher.Item[T]) {
	for i := len(items) - 1; i >= 0; i-- {
		b.join(items[i], true)
	}
	b.n += len(items)
}

// Split takes back the commands of a packet that failed as a whole and
// queues them again as two packets of half the size each, sent before
// anything else, so that a row that breaks its packet ends up alone. A
// single command is queued alone.
func (b *legacy[T]) Split(p batcher.Packet[T]) {
	if len(p.Items) == 0 {
		return
	}
	h := (len(p.Items) + 1) / 2
	halves := []batcher.Packet[T]{{Shape: p.Shape, Items: p.Items[:h:h]}}
	if h < len(p.Items) {
		halves = append(halves, batcher.Packet[T]{Shape: p.Shape, Items: p.Items[h:]})
	}
	b.split = append(halves, b.split...)
	b.n += len(p.Items)
}

// Done reports that the command with key ended (its final result is
// recorded). The next held command for the key, if any, joins a packet.
// Done of an empty key does nothing.
func (b *legacy[T]) Done(key string) {
	if key == "" {
		return
	}
	q := b.held[key]
	if len(q) == 0 {
		delete(b.busy, key)
		return
	}
	next := q[0]
	if len(q) == 1 {
		delete(b.held, key)
	} else {
		q[0] = batcher.Item[T]{}
		b.held[key] = q[1:]
	}
	// The key stays busy: it now belongs to next. Held commands were
	// counted in n when added.
	b.join(next, false)
}

// Return takes back a packet from Next that was not sent after all (no
// call could be made): it is the next packet Next returns, unchanged.
func (b *legacy[T]) Return(p batcher.Packet[T]) {
	if len(p.Items) == 0 {
		return
	}
	b.split = append([]batcher.Packet[T]{p}, b.split...)
	b.n += len(p.Items)
}

// Ready returns how many commands the packet Next(now, 0) would return
// holds, 0 when none is ready: the fill a call would have if made now.
func (b *legacy[T]) Ready(now time.Time) int {
	if len(b.split) > 0 {
		return len(b.split[0].Items)
	}
	best := 0
	var bestG *legacyGroup[T]
	bestShape := ""
	for shape, g := range b.groups {
		full := len(g.items) >= b.cfg.MaxRows
		if !full && b.cfg.MaxWait > 0 && now.Sub(g.items[0].Arrived) < b.cfg.MaxWait {
			continue
		}
		if bestG == nil || legacyEarlier(g, bestG, shape, bestShape) {
			bestG, bestShape, best = g, shape, min(len(g.items), b.cfg.MaxRows)
		}
	}
	return best
}
