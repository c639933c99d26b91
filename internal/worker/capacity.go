package worker

import "context"

// capacity is what one lane may hold: a slot per command (MaxPending in
// all, which is also its consumer's MaxAckPending) and the bytes of its
// budget. The fetcher acquires slots before it fetches and charges bytes
// as the commands come; every command is released exactly once, when it
// leaves the lane (acknowledged, handed back, or lost to another
// delivery), and release is the only way out.
type capacity struct {
	slots chan struct{}
	bytes *budget
}

func newCapacity(maxPending int, bytes *budget) *capacity {
	return &capacity{slots: make(chan struct{}, maxPending), bytes: bytes}
}

// acquire takes slots for one fetch: it blocks for the first (until ctx
// ends), then takes up to most free ones without blocking. It returns how
// many it took, 0 when ctx ended.
func (c *capacity) acquire(ctx context.Context, most int) int {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < most {
		select {
		case c.slots <- struct{}{}:
			n++
			continue
		default:
		}
		break
	}
	return n
}

// unused gives back n slots acquired for a fetch that brought fewer
// commands.
func (c *capacity) unused(n int) {
	for range n {
		<-c.slots
	}
}

// charge counts a command's bytes once it has come.
func (c *capacity) charge(e *entry) { c.bytes.charge(e.cost) }

// release gives back everything e held.
func (c *capacity) release(e *entry) {
	c.bytes.release(e.cost)
	<-c.slots
}
