package worker

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// costFactor and costFixed estimate what a held command takes in memory
// from the size of its message: the message itself, the decoded command
// (strings copied out of the payload), and its typed fields; plus the
// maps and structs around them.
const (
	costFactor = 3
	costFixed  = 1024
)

// commandCost is what a fetched message counts against the byte budgets.
func commandCost(m jetstream.Msg) int64 {
	n := len(m.Data()) + len(m.Subject())
	for k, vs := range m.Headers() {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return costFactor*int64(n) + costFixed
}

// budget bounds the bytes held by commands: one per lane, whose parent is
// the process's, shared by every lane. Safe for concurrent use: the lane's
// fetcher charges it, the lane's loop releases it.
type budget struct {
	limit  int64
	parent *budget

	mu      sync.Mutex // protects used, changed
	used    int64
	changed chan struct{} // closed when used goes down
}

func newBudget(limit int64, parent *budget) *budget {
	return &budget{limit: limit, parent: parent, changed: make(chan struct{})}
}

// free returns the bytes that may still be charged, here and in the
// parent, and a channel closed when either frees some.
func (b *budget) free() (int64, <-chan struct{}) {
	b.mu.Lock()
	room, ch := b.limit-b.used, b.changed
	b.mu.Unlock()
	if b.parent != nil {
		proom, pch := b.parent.free()
		if proom < room {
			return proom, pch
		}
	}
	return room, ch
}

// charge counts n bytes, here and in the parent. It never refuses: the
// fetcher asks for no more than free allows, and a message never exceeds
// what it asked for by more than one message.
func (b *budget) charge(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
	if b.parent != nil {
		b.parent.charge(n)
	}
}

// release gives back n bytes charged before.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	if b.parent != nil {
		b.parent.release(n)
	}
}

// inUse returns the bytes charged.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
