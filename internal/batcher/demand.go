package batcher

// Demand is what the commands a batcher holds need, in calls and rows. It
// tells a caller that rations calls whether holding partial packets back
// can pay: only rows that are Eligible can fill a packet now, and Calls is
// the fewest calls that send everything held.
type Demand struct {
	// Calls is a lower bound on the calls that sending every command held
	// takes, whatever comes later: each packet of Split or Return is one
	// call; the other rows of one shape take at least ⌈rows/MaxRows⌉
	// calls, and at least as many as the most rows of that shape one key
	// has (a key's rows go one per call, one after another); shapes never
	// share a call. Collapsed commands are in their row. Commands already
	// handed out are not counted.
	Calls int
	// Rows is how many rows the commands held make (Rows()).
	Rows int
	// Eligible is how many of those rows could go in a packet now, MaxWait
	// aside: every row but those held behind an unfinished row of their
	// key.
	Eligible int
	// Fill is the most rows one packet could hold now, MaxWait aside: the
	// largest packet of Split or Return, or MaxRows or the eligible rows
	// of a shape, if fewer.
	Fill int
}

// Demand returns the demand of the commands held, in calls and rows.
func (b *Batcher[T]) Demand() Demand {
	d := Demand{Rows: b.rows, Calls: len(b.split)}
	for _, t := range b.shapes {
		d.Calls += max((t.rows+b.cfg.MaxRows-1)/b.cfg.MaxRows, t.most)
	}
	for _, p := range b.split {
		d.Rows += len(p.Items)
		d.Eligible += len(p.Items)
		d.Fill = max(d.Fill, len(p.Items))
	}
	for _, g := range b.groups {
		d.Eligible += len(g.items)
		d.Fill = max(d.Fill, min(len(g.items), b.cfg.MaxRows))
	}
	return d
}

// tally counts the rows of one shape in groups and held queues (rows in
// split packets are not counted: each of those packets is one call).
type tally struct {
	rows int
	// keys counts keys by how many rows of the shape they have (n > 0);
	// most is the largest such n.
	keys map[int]int
	most int
}

// shapeRows is how many rows of one shape one key has.
type shapeRows struct {
	shape string
	n     int
}

// count records d more rows (d < 0: fewer) of a shape, of the key of c
// (nil: no key). It is the one place the row counts change.
func (b *Batcher[T]) count(c *chain[T], shape string, d int) {
	b.rows += d
	t := b.shapes[shape]
	if t == nil {
		t = &tally{}
		b.shapes[shape] = t
	}
	t.rows += d
	if c != nil {
		i := 0
		for i < len(c.rows) && c.rows[i].shape != shape {
			i++
		}
		if i == len(c.rows) {
			c.rows = append(c.rows, shapeRows{shape: shape})
		}
		old := c.rows[i].n
		n := old + d
		c.rows[i].n = n
		if n == 0 {
			c.rows[i] = c.rows[len(c.rows)-1]
			c.rows = c.rows[:len(c.rows)-1]
		}
		if t.keys == nil {
			t.keys = map[int]int{}
		}
		if old > 0 {
			if t.keys[old]--; t.keys[old] == 0 {
				delete(t.keys, old)
			}
		}
		if n > 0 {
			t.keys[n]++
		}
		t.most = max(t.most, n)
		for t.most > 0 && t.keys[t.most] == 0 {
			t.most--
		}
	}
	if t.rows == 0 {
		delete(b.shapes, shape)
	}
}
