package batcher

import "slices"

// chain is the state of one key with an unfinished row: that row (open in
// a group, or handed out) and the rows held behind it. It exists from the
// key's first command until Done ends its last row.
type chain[T any] struct {
	// open is set while the key's unfinished row waits in a group and has
	// never been handed out: it is row then (the group's slot points
	// here), and with Config.Collapse a command of its shape may join it.
	open bool
	row  Item[T]
	// pending counts the commands of the unfinished row not yet reported
	// Done since it was last handed out, 0 while the row is in the
	// batcher: the next row goes when it falls back to 0.
	pending int
	// held are the rows behind the unfinished one, oldest first. With
	// Config.Collapse consecutive commands of one shape are one row,
	// except the first alone rows: commands of a failed row taken apart
	// by Expand, which are sent one at a time and never merge again.
	held  []Item[T]
	alone int
	// rows counts the key's rows in groups and held, per shape, for
	// Demand.
	rows []shapeRows
}

// hold takes a new command for a key with an unfinished row: it joins the
// open row, or the last held row, when Collapse is on and the shape is the
// same (and nothing lies between); else it is held as a row of its own.
func (b *Batcher[T]) hold(c *chain[T], it Item[T]) {
	if b.cfg.Collapse {
		if len(c.held) == 0 && c.open && c.row.Shape == it.Shape {
			c.row = merge(c.row, it)
			return
		}
		if last := len(c.held) - 1; last >= c.alone && c.held[last].Shape == it.Shape {
			c.held[last] = merge(c.held[last], it)
			b.held += size(it)
			return
		}
	}
	c.held = append(c.held, it)
	b.held += size(it)
	b.count(c, it.Shape, 1)
}

// merge returns the row that stands for row and then it: the value of
// it, carrying every earlier command in arrival order. Sending it leaves
// the object as sending row and then it would: both set the same fields.
func merge[T any](row, it Item[T]) Item[T] {
	first := row
	first.Collapsed = nil
	carried := append(row.Collapsed, first)
	it.Collapsed = append(carried, it.Collapsed...)
	return it
}

// chainFor returns the chain of a key, made (busy, nothing open) if the
// key has none; nil for the empty key.
func (b *Batcher[T]) chainFor(key string) *chain[T] {
	if key == "" {
		return nil
	}
	c := b.keys[key]
	if c == nil {
		if k := len(b.spare); k > 0 {
			c = b.spare[k-1]
			b.spare[k-1] = nil
			b.spare = b.spare[:k-1]
		} else {
			c = &chain[T]{}
		}
		b.keys[key] = c
	}
	return c
}

// drop forgets the chain of a key whose last row ended, keeping it for
// reuse while there are few spare ones. Its held queue and row counts are
// empty, but keep their room.
func (b *Batcher[T]) drop(key string, c *chain[T]) {
	delete(b.keys, key)
	if len(b.spare) >= b.cfg.MaxRows {
		return
	}
	*c = chain[T]{held: c.held[:0], rows: c.rows[:0]}
	b.spare = append(b.spare, c)
}

// handOut records that a row leaves the batcher in a packet: its key's
// next row waits for Done of each of its commands. It returns the key's
// chain (nil for the empty key).
func (b *Batcher[T]) handOut(it Item[T]) *chain[T] {
	b.n -= size(it)
	if it.Key == "" {
		return nil
	}
	c := b.keys[it.Key]
	if c != nil {
		c.pending = size(it)
	}
	return c
}

// back records that a row handed out comes back into the batcher (Requeue,
// Split, Return, Expand): Done waits until it is handed out again. It
// returns the key's chain, made if need be (nil for the empty key).
func (b *Batcher[T]) back(it Item[T]) *chain[T] {
	b.n += size(it)
	c := b.chainFor(it.Key)
	if c != nil {
		c.pending = 0
	}
	return c
}

// Done reports that one command with key ended (its final result is
// recorded). When every command of the key's unfinished row has ended — a
// collapsed row takes one Done per command it carries, its Value's
// included — the key's next held row joins a packet. Done of an empty
// key, or of a key whose unfinished row is not out (never handed out, or
// taken back), does nothing.
func (b *Batcher[T]) Done(key string) {
	c := b.keys[key]
	if c == nil || c.pending == 0 {
		return
	}
	if c.pending--; c.pending > 0 {
		return
	}
	if len(c.held) == 0 {
		b.drop(key, c)
		return
	}
	next := c.held[0]
	c.held[0] = Item[T]{}
	c.held = c.held[1:]
	b.held -= size(next)
	// The key stays busy: it now belongs to next. Its rows were counted
	// when it was held.
	if c.alone > 0 {
		c.alone--
		b.join(slot[T]{it: next})
		return
	}
	c.open, c.row = true, next
	b.join(slot[T]{c: c})
}

// Expand takes back rows that failed and queues their commands to be sent
// again one at a time, in arrival order, each its own row and never
// collapsed again, so that each gets its own verdict: the first goes
// before newer rows of its shape (as Requeue), the others are held, ahead
// of the key's later commands, each in turn its key's unfinished row. A
// row that carries nothing is requeued.
func (b *Batcher[T]) Expand(rows ...Item[T]) {
	for i := len(rows) - 1; i >= 0; i-- {
		row := rows[i]
		cmds := make([]Item[T], 0, size(row))
		for _, it := range row.Collapsed {
			it.Collapsed = nil
			cmds = append(cmds, it)
		}
		c := b.back(row)
		row.Collapsed = nil
		cmds = append(cmds, row)
		for _, it := range cmds {
			b.count(c, it.Shape, 1)
		}
		if c == nil {
			// Nothing orders commands without a key.
			b.front(cmds)
			continue
		}
		b.front(cmds[:1])
		c.held = slices.Insert(c.held, 0, cmds[1:]...)
		c.alone += len(cmds) - 1
		b.held += len(cmds) - 1
	}
}
