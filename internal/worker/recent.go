package worker

// recentSet remembers the last n stream sequences added, to recognise late
// second deliveries of commands the lane has just finished.
type recentSet struct {
	set  map[uint64]struct{}
	ring []uint64
	next int
}

func (r *recentSet) init(n int) {
	r.set = make(map[uint64]struct{}, n)
	r.ring = make([]uint64, n)
}

func (r *recentSet) has(seq uint64) bool {
	_, ok := r.set[seq]
	return ok
}

func (r *recentSet) add(seq uint64) {
	if seq == 0 || r.has(seq) {
		return
	}
	if old := r.ring[r.next]; old != 0 {
		delete(r.set, old)
	}
	r.ring[r.next] = seq
	r.set[seq] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
