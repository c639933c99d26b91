package batcher_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/batcher"
)

// members returns the ids of a row's commands in arrival order: the
// collapsed ones, then the one whose value is sent.
func members(it batcher.Item[cmd]) []int {
	out := make([]int, 0, 1+len(it.Collapsed))
	for _, c := range it.Collapsed {
		out = append(out, c.Value.id)
	}
	return append(out, it.Value.id)
}

// model is what the test knows of every command, to check a batcher
// driven at random against.
type model struct {
	t        *testing.T
	b        *batcher.Batcher[cmd]
	collapse bool
	maxRows  int
	shape    map[int]string   // id → shape
	key      map[int]string   // id → key
	byKey    map[string][]int // key → ids in arrival order
	pos      map[int]int      // id → index in byKey[key]
	ended    map[int]bool     // id → ended (true: with success)
	lastEnd  map[string]int   // key → id of the last command ended
	inFlight map[string]bool  // keys with a row in flight
	flying   int              // commands in flight
	sentAs   map[int]string   // id → members of the row it was last sent in
	alone    map[int]bool     // ids expanded: sent alone from then on
	merged   int              // rows sent that carried collapsed commands
	// state is, per key, what the rows applied so far left: field → id of
	// the command whose value set it.
	state map[string]map[string]int
}

func newModel(t *testing.T, b *batcher.Batcher[cmd]) *model {
	return &model{
		t: t, b: b, collapse: b.Config().Collapse, maxRows: b.Config().MaxRows,
		shape: map[int]string{}, key: map[int]string{}, byKey: map[string][]int{}, pos: map[int]int{},
		ended: map[int]bool{}, lastEnd: map[string]int{}, inFlight: map[string]bool{},
		sentAs: map[int]string{}, alone: map[int]bool{}, state: map[string]map[string]int{},
	}
}

func (m *model) add(id int, key, shape string, at time.Time) {
	m.shape[id], m.key[id] = shape, key
	m.pos[id] = len(m.byKey[key])
	m.byKey[key] = append(m.byKey[key], id)
	m.b.Add(item(id, key, shape, at))
}

// sent checks a packet the batcher handed out and records it in flight.
func (m *model) sent(p batcher.Packet[cmd]) {
	t := m.t
	require.NotEmpty(t, p.Items)
	require.LessOrEqual(t, len(p.Items), m.maxRows)
	for _, row := range p.Items {
		ids := members(row)
		name := fmt.Sprint(ids)
		require.Equal(t, p.Shape, row.Shape)
		for i, id := range ids {
			require.False(t, m.ended[id] || m.ended[-id-1], "command %d sent after it ended", id)
			require.Equal(t, row.Shape, m.shape[id], "row %v mixes shapes", ids)
			require.Equal(t, row.Key, m.key[id], "row %v mixes keys", ids)
			if i > 0 {
				require.Equal(t, m.pos[ids[i-1]]+1, m.pos[id], "row %v skips a command of its key", ids)
			}
		}
		if len(ids) > 1 {
			m.merged++
			require.True(t, m.collapse, "collapsed row with Collapse off")
			require.NotEmpty(t, row.Key, "collapsed row without a key")
		}
		fresh := true
		for _, id := range ids {
			if prev, ok := m.sentAs[id]; ok {
				fresh = false
				if m.alone[id] {
					require.Equal(t, []int{id}, ids, "expanded command %d collapsed again", id)
				} else {
					require.Equal(t, prev, name, "a sent row changed: %d", id)
				}
			}
		}
		if fresh && m.collapse && row.Key != "" {
			// Merged wherever it is safe: the key's next command, if it
			// came, has another shape.
			last := ids[len(ids)-1]
			if next := m.pos[last] + 1; next < len(m.byKey[row.Key]) {
				require.NotEqual(t, row.Shape, m.shape[m.byKey[row.Key][next]],
					"row %v left command %d of its shape behind", ids, m.byKey[row.Key][next])
			}
		}
		for _, id := range ids {
			m.sentAs[id] = name
		}
		if row.Key != "" {
			require.False(t, m.inFlight[row.Key], "two rows of %s in flight", row.Key)
			m.inFlight[row.Key] = true
		}
		m.flying += len(ids)
	}
}

// back takes a packet out of flight.
func (m *model) back(p batcher.Packet[cmd]) {
	for _, row := range p.Items {
		delete(m.inFlight, row.Key)
		m.flying -= len(members(row))
	}
}

// end ends every command of a row, applies it when ok, and reports Done.
func (m *model) end(row batcher.Item[cmd], ok bool) {
	t := m.t
	held := m.b.Held()
	for i, id := range members(row) {
		if i > 0 {
			require.Equal(t, held, m.b.Held(), "key %s: next row released before every command of the row ended", row.Key)
		}
		require.False(t, m.ended[id] || m.ended[-id-1], "command %d ended twice", id)
		if ok {
			m.ended[id] = true
		} else {
			m.ended[-id-1] = true
		}
		if row.Key != "" {
			if prev, had := m.lastEnd[row.Key]; had {
				require.Greater(t, id, prev, "key %s: commands ended out of order", row.Key)
			}
			m.lastEnd[row.Key] = id
		}
		m.b.Done(row.Key)
	}
	if ok && row.Key != "" {
		st := m.state[row.Key]
		if st == nil {
			st = map[string]int{}
			m.state[row.Key] = st
		}
		for f := range strings.SplitSeq(row.Shape, ",") {
			st[f] = row.Value.id
		}
	}
}

// check asserts that every command is accounted for exactly once: ended,
// in flight, or held by the batcher.
func (m *model) check(added int) {
	require.Equal(m.t, added-len(m.ended)-m.flying, m.b.Len(), "commands lost or counted twice")
	require.LessOrEqual(m.t, m.b.Rows(), m.b.Len())
	require.LessOrEqual(m.t, m.b.Held(), m.b.Len())
	d := m.b.Demand()
	require.Equal(m.t, m.b.Rows(), d.Rows)
	require.LessOrEqual(m.t, d.Eligible, d.Rows)
	require.LessOrEqual(m.t, d.Fill, m.maxRows)
	require.GreaterOrEqual(m.t, d.Calls, (d.Rows+m.maxRows-1)/m.maxRows)
}

// final checks, per key, that the rows applied left what applying every
// command that ended well, one after another, leaves.
func (m *model) final() {
	for key, ids := range m.byKey {
		if key == "" {
			continue
		}
		want := map[string]int{}
		for _, id := range ids {
			if m.ended[id] {
				for f := range strings.SplitSeq(m.shape[id], ",") {
					want[f] = id
				}
			}
		}
		got := m.state[key]
		if got == nil {
			got = map[string]int{}
		}
		require.Equal(m.t, want, got, "key %s: final state", key)
	}
}

// TestRandomizedModel drives a batcher with random adds, partial results,
// splits, failed rows and completions, with and without Collapse, and
// checks it against a model: every command is accounted for exactly once
// (held, in flight, or ended) and ends exactly once; commands of one key
// end in arrival order, never two rows of a key in flight at once; rows
// hold consecutive commands of one key and shape, merged wherever safe and
// never once sent; expanded commands go alone; packets respect MaxRows
// and shapes; applying the rows sent gives each key the state applying
// every command in turn gives; and Demand is a lower bound on the calls
// that drain the batcher, with exactly Rows rows.
func TestRandomizedModel(t *testing.T) {
	for _, collapse := range []bool{false, true} {
		for seed := range uint64(60) {
			t.Run(fmt.Sprint("collapse=", collapse, "/seed", seed), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(seed, 7))
				maxRows := 1 + rng.IntN(8)
				b := setup(t, batcher.Config{MaxRows: maxRows, MaxWait: time.Duration(rng.IntN(3)) * time.Second, Collapse: collapse})
				m := newModel(t, b)
				now := t0
				next := 0
				shapes := []string{"a", "a", "a,b", "b"}
				nkeys := 1 + rng.IntN(6)
				var flight []batcher.Packet[cmd]
				expanded := 0
				for step := range 400 {
					now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
					for range rng.IntN(4) {
						key := ""
						if rng.IntN(5) > 0 {
							key = fmt.Sprint("k", rng.IntN(nkeys))
						}
						m.add(next, key, shapes[rng.IntN(len(shapes))], now)
						next++
					}
					m.check(next)
					if step%50 == 49 {
						for _, p := range b.Flush() {
							m.sent(p)
							flight = append(flight, p)
						}
					} else if p, ok := b.Next(now, 0); ok {
						m.sent(p)
						if rng.IntN(8) == 0 {
							m.back(p)
							b.Return(p)
						} else {
							flight = append(flight, p)
						}
					}
					m.check(next)
					if len(flight) == 0 || rng.IntN(3) == 0 {
						continue
					}
					i := rng.IntN(len(flight))
					p := flight[i]
					flight = slices.Delete(flight, i, i+1)
					m.back(p)
					switch rng.IntN(6) {
					case 0: // the whole call failed: split
						b.Split(p)
					case 1: // a short table: the tail was not processed
						k := rng.IntN(len(p.Items) + 1)
						for _, it := range p.Items[:k] {
							m.end(it, true)
						}
						b.Requeue(p.Items[k:])
					case 2: // one row failed; the others went through
						bad := rng.IntN(len(p.Items))
						for j, it := range p.Items {
							switch {
							case j != bad:
								m.end(it, true)
							case len(it.Collapsed) > 0:
								for _, id := range members(it) {
									m.alone[id] = true
								}
								b.Expand(it)
								expanded++
							default:
								m.end(it, false)
							}
						}
					default:
						for _, it := range p.Items {
							m.end(it, true)
						}
					}
					m.check(next)
				}
				// Calls in flight end well; then the demand left must be
				// a lower bound on the calls that drain the batcher.
				for _, p := range flight {
					m.back(p)
					for _, it := range p.Items {
						m.end(it, true)
					}
				}
				m.check(next)
				d := b.Demand()
				calls, rows := 0, 0
				for {
					p, ok := b.Next(now.Add(time.Hour), 0)
					if !ok {
						break
					}
					m.sent(p)
					m.back(p)
					calls++
					rows += len(p.Items)
					for _, it := range p.Items {
						m.end(it, true)
					}
				}
				require.Zero(t, b.Len())
				require.Zero(t, b.Rows())
				require.Equal(t, batcher.Demand{}, b.Demand())
				require.GreaterOrEqual(t, calls, d.Calls, "Demand.Calls is a lower bound")
				require.Equal(t, d.Rows, rows)
				require.Len(t, m.ended, next, "every command ended")
				m.final()
				t.Logf("rows collapsed %d, expanded %d, commands %d", m.merged, expanded, next)
				if collapse {
					require.Positive(t, m.merged, "the run collapsed nothing: it checks nothing of collapse")
				}
			})
		}
	}
}

// TestCollapseOffIsTheLegacyBatcher drives today's batcher with Collapse
// off and the batcher as it was before collapse with the same random
// operations, and requires the same answer to every call.
func TestCollapseOffIsTheLegacyBatcher(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 11))
			cfg := batcher.Config{MaxRows: 1 + rng.IntN(8), MaxWait: time.Duration(rng.IntN(3)-1) * time.Second}
			b := setup(t, cfg)
			old, err := newLegacy[cmd](cfg)
			require.NoError(t, err)
			same := func(p, q batcher.Packet[cmd], what string) {
				t.Helper()
				require.Equal(t, q.Shape, p.Shape, what)
				require.Equal(t, ids(q), ids(p), what)
			}
			now := t0
			var flight []batcher.Packet[cmd]
			for step := range 500 {
				now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
				for range rng.IntN(4) {
					key := ""
					if rng.IntN(5) > 0 {
						key = fmt.Sprint("k", rng.IntN(5))
					}
					it := item(step*10+rng.IntN(10), key, []string{"a", "a,b"}[rng.IntN(2)], now)
					require.Equal(t, old.Add(it), b.Add(it), "Add")
				}
				require.Equal(t, old.Len(), b.Len(), "Len")
				require.Equal(t, old.Held(), b.Held(), "Held")
				require.Equal(t, old.Ready(now), b.Ready(now), "Ready")
				dOld, okOld := old.UntilNext(now)
				d, ok := b.UntilNext(now)
				require.Equal(t, okOld, ok, "UntilNext")
				require.Equal(t, dOld, d, "UntilNext")
				if step%60 == 59 {
					pOld, p := old.Flush(), b.Flush()
					require.Len(t, p, len(pOld), "Flush")
					for i := range p {
						same(p[i], pOld[i], "Flush")
					}
					flight = append(flight, p...)
				}
				minRows := rng.IntN(cfg.MaxRows + 2)
				pOld, okOld := old.Next(now, minRows)
				p, ok := b.Next(now, minRows)
				require.Equal(t, okOld, ok, "Next")
				if ok {
					same(p, pOld, "Next")
					if rng.IntN(6) == 0 {
						old.Return(p)
						b.Return(p)
					} else {
						flight = append(flight, p)
					}
				}
				if len(flight) == 0 || rng.IntN(2) == 0 {
					continue
				}
				i := rng.IntN(len(flight))
				p = flight[i]
				flight = slices.Delete(flight, i, i+1)
				switch rng.IntN(4) {
				case 0:
					old.Split(p)
					b.Split(p)
				case 1:
					k := rng.IntN(len(p.Items) + 1)
					for _, it := range p.Items[:k] {
						old.Done(it.Key)
						b.Done(it.Key)
					}
					old.Requeue(p.Items[k:])
					b.Requeue(p.Items[k:])
				default:
					for _, it := range p.Items {
						old.Done(it.Key)
						b.Done(it.Key)
					}
				}
			}
		})
	}
}
