package batcher_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/batcher"
)

// step is one operation of a collapse scenario, applied to a batcher and
// the last packet it handed out.
type step func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd])

// add adds command id; each command arrives a millisecond after the last
// id.
func add(id int, key, shape string) step {
	return func(t *testing.T, b *batcher.Batcher[cmd], _ *batcher.Packet[cmd]) {
		b.Add(item(id, key, shape, t0.Add(time.Duration(id)*time.Millisecond)))
	}
}

// next expects the next packet to hold these rows (members in arrival
// order: the collapsed commands, then the one sent); none for no packet.
func next(rows ...[]int) step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) {
		t.Helper()
		p, ok := b.Next(t0.Add(time.Hour), 0)
		if len(rows) == 0 {
			require.False(t, ok, "no packet expected, got %v", p.Items)
			return
		}
		require.True(t, ok, "a packet expected")
		got := make([][]int, len(p.Items))
		for i, it := range p.Items {
			got[i] = members(it)
		}
		require.Equal(t, rows, got)
		*last = p
	}
}

// row is a row's members, in arrival order.
func row(ids ...int) []int { return ids }

// end reports Done for every command of every row of the last packet.
func end() step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) {
		for _, it := range last.Items {
			for range 1 + len(it.Collapsed) {
				b.Done(it.Key)
			}
		}
	}
}

// doneOnce reports Done for one command of key.
func doneOnce(key string) step {
	return func(t *testing.T, b *batcher.Batcher[cmd], _ *batcher.Packet[cmd]) { b.Done(key) }
}

// expand takes the last packet's rows back with Expand.
func expand() step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) { b.Expand(last.Items...) }
}

// expandRow takes one row of the last packet back with Expand.
func expandRow(i int) step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) { b.Expand(last.Items[i]) }
}

// requeue gives the last packet's rows back with Requeue.
func requeue() step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) { b.Requeue(last.Items) }
}

// split gives the last packet back with Split.
func split() step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) { b.Split(*last) }
}

// giveBack gives the last packet back with Return.
func giveBack() step {
	return func(t *testing.T, b *batcher.Batcher[cmd], last *batcher.Packet[cmd]) { b.Return(*last) }
}

// counts expects Len, Rows and Held.
func counts(n, rows, held int) step {
	return func(t *testing.T, b *batcher.Batcher[cmd], _ *batcher.Packet[cmd]) {
		t.Helper()
		require.Equal(t, []int{n, rows, held}, []int{b.Len(), b.Rows(), b.Held()}, "Len, Rows, Held")
	}
}

func TestCollapse(t *testing.T) {
	cases := []struct {
		name     string
		collapse bool
		steps    []step
	}{
		{"same shape merges into the last", true, []step{
			add(1, "k", "a"), add(2, "k", "a"), add(3, "k", "a"), counts(3, 1, 0),
			next(row(1, 2, 3)), counts(0, 0, 0), end(), next(),
		}},
		{"a different shape in between keeps the order", true, []step{
			add(1, "k", "a"), add(2, "k", "a"), add(3, "k", "b"), add(4, "k", "a"), counts(4, 3, 2),
			next(row(1, 2)), end(), next(row(3)), end(), next(row(4)), end(), next(), counts(0, 0, 0),
		}},
		{"held commands merge while they wait", true, []step{
			add(1, "k", "a"), next(row(1)),
			add(2, "k", "a"), add(3, "k", "a"), add(4, "k", "a"), counts(3, 1, 3),
			end(), counts(3, 1, 0), add(5, "k", "a"), next(row(2, 3, 4, 5)),
		}},
		{"a sent row takes nothing more", true, []step{
			add(1, "k", "a"), next(row(1)), requeue(), add(2, "k", "a"), add(3, "k", "a"), counts(3, 2, 2),
			next(row(1)), end(), next(row(2, 3)),
		}},
		{"a returned packet comes back unchanged", true, []step{
			add(1, "k", "a"), next(row(1)), giveBack(), add(2, "k", "a"),
			next(row(1)), end(), next(row(2)),
		}},
		{"a split keeps collapsed rows whole", true, []step{
			add(1, "k", "a"), add(2, "j", "a"), add(3, "k", "a"), add(4, "j", "a"), add(5, "k", "a"),
			next(row(1, 3, 5), row(2, 4)), split(), add(6, "k", "a"), counts(6, 3, 1),
			next(row(1, 3, 5)), next(row(2, 4)), end(), next(), doneOnce("k"), doneOnce("k"), doneOnce("k"), next(row(6)),
		}},
		{"rows keep the place of their first command", true, []step{
			add(1, "", "a"), add(2, "k", "a"), add(3, "", "a"), add(4, "j", "a"), add(5, "k", "a"), add(6, "", "a"),
			next(row(1), row(2, 5), row(3), row(4), row(6)),
		}},
		{"commands without a key never collapse", true, []step{
			add(1, "", "a"), add(2, "", "a"), counts(2, 2, 0), next(row(1), row(2)),
		}},
		{"Done waits for every command of the row", true, []step{
			add(1, "k", "a"), add(2, "k", "a"), add(3, "k", "b"), next(row(1, 2)),
			doneOnce("k"), next(), counts(1, 1, 1), doneOnce("k"), counts(1, 1, 0), next(row(3)),
		}},
		{"Done of a row not sent does nothing", true, []step{
			add(1, "k", "a"), doneOnce("k"), add(2, "k", "a"), next(row(1, 2)),
		}},
		{"expand sends each alone, in order, never merging again", true, []step{
			add(1, "k", "a"), add(2, "k", "a"), add(3, "k", "a"), next(row(1, 2, 3)),
			add(4, "k", "a"), expand(), counts(4, 4, 3),
			next(row(1)), add(5, "k", "a"), counts(4, 3, 4),
			end(), next(row(2)), end(), next(row(3)), end(), next(row(4, 5)), end(), next(), counts(0, 0, 0),
		}},
		{"expanded commands go before newer rows of their shape", true, []step{
			add(1, "k", "a"), add(2, "k", "a"), add(3, "j", "a"), next(row(1, 2), row(3)),
			doneOnce("j"), add(4, "i", "a"), expandRow(0), next(row(1), row(4)), end(), next(row(2)),
		}},
		{"expanding a single command requeues it", true, []step{
			add(1, "k", "a"), next(row(1)), add(2, "k", "a"), expand(), counts(2, 2, 1),
			next(row(1)), end(), next(row(2)),
		}},
		{"collapse off sends one command at a time", false, []step{
			add(1, "k", "a"), add(2, "k", "a"), add(3, "k", "a"), counts(3, 3, 2),
			next(row(1)), end(), next(row(2)), end(), next(row(3)),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, batcher.Config{MaxRows: 10, MaxWait: time.Second, Collapse: tc.collapse})
			var last batcher.Packet[cmd]
			for _, s := range tc.steps {
				s(t, b, &last)
			}
		})
	}
}

func TestCollapsedRowIsDueFromItsFirstCommand(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 10, MaxWait: 2 * time.Second, Collapse: true})
	b.Add(item(1, "k", "a", t0))
	b.Add(item(2, "k", "a", t0.Add(1500*time.Millisecond)))
	d, ok := b.UntilNext(t0.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, time.Second, d, "due when the first command has waited MaxWait")
	p, ok := b.Next(t0.Add(2*time.Second), 0)
	require.True(t, ok)
	require.Equal(t, [][]int{{1, 2}}, [][]int{members(p.Items[0])})
	require.Equal(t, t0.Add(1500*time.Millisecond), p.Items[0].Arrived, "the row is the last command")
	require.Equal(t, t0, p.Items[0].Collapsed[0].Arrived)
}

// TestHotObjectsCollapse is the case: 2,000 edits of one shape on
// 20 objects, 100 each, added before the first call.
func TestHotObjectsCollapse(t *testing.T) {
	for _, collapse := range []bool{true, false} {
		t.Run(fmt.Sprint("collapse=", collapse), func(t *testing.T) {
			t.Parallel()
			b := setup(t, batcher.Config{MaxRows: 100, MaxWait: time.Second, Collapse: collapse})
			for i := range 2000 {
				b.Add(item(i, fmt.Sprint("user", i%20), "ClientUserID,Name,Phone", t0))
			}
			require.Equal(t, 2000, b.Len())
			if !collapse {
				// One call after another per object: 100 calls of 20 rows.
				require.Equal(t, batcher.Demand{Calls: 100, Rows: 2000, Eligible: 20, Fill: 20}, b.Demand())
				return
			}
			require.Equal(t, batcher.Demand{Calls: 1, Rows: 20, Eligible: 20, Fill: 20}, b.Demand())
			p, ok := b.Next(t0.Add(time.Second), 0)
			require.True(t, ok)
			require.Len(t, p.Items, 20, "one packet of 20 rows")
			for k, it := range p.Items {
				require.Equal(t, fmt.Sprint("user", k), it.Key)
				require.Equal(t, 1980+k, it.Value.id, "the row sends the object's last edit")
				require.Len(t, it.Collapsed, 99)
				for j, c := range it.Collapsed {
					require.Equal(t, k+20*j, c.Value.id, "collapsed edits in arrival order")
				}
			}
			_, ok = b.Next(t0.Add(time.Hour), 0)
			require.False(t, ok, "nothing else to send")
			require.Zero(t, b.Len())
			for _, it := range p.Items {
				for range 1 + len(it.Collapsed) {
					b.Done(it.Key)
				}
			}
			b.Add(item(5000, "user0", "ClientUserID,Name,Phone", t0))
			p, ok = b.Next(t0.Add(time.Hour), 0)
			require.True(t, ok)
			require.Equal(t, []int{5000}, ids(p), "the objects are free again")
		})
	}
}

func TestDemand(t *testing.T) {
	cases := []struct {
		name     string
		maxRows  int
		collapse bool
		fill     func(b *batcher.Batcher[cmd])
		want     batcher.Demand
	}{
		{"empty", 100, true, func(b *batcher.Batcher[cmd]) {}, batcher.Demand{}},
		{"rows without keys pack MaxRows a call", 100, false, func(b *batcher.Batcher[cmd]) {
			for i := range 250 {
				b.Add(item(i, "", "a", t0))
			}
		}, batcher.Demand{Calls: 3, Rows: 250, Eligible: 250, Fill: 100}},
		{"shapes never share a call", 100, false, func(b *batcher.Batcher[cmd]) {
			for i := range 10 {
				b.Add(item(i, "", "a", t0))
				b.Add(item(100+i, "", "b", t0))
			}
		}, batcher.Demand{Calls: 2, Rows: 20, Eligible: 20, Fill: 10}},
		{"a key's rows go one per call", 100, false, func(b *batcher.Batcher[cmd]) {
			for i := range 7 {
				b.Add(item(i, "k", "a", t0))
			}
			b.Add(item(10, "j", "a", t0))
		}, batcher.Demand{Calls: 7, Rows: 8, Eligible: 2, Fill: 2}},
		{"a key's rows of each shape count in that shape", 100, true, func(b *batcher.Batcher[cmd]) {
			for i, s := range []string{"a", "a", "b", "b", "a", "b"} {
				b.Add(item(i, "k", s, t0))
			}
			for i := range 3 {
				b.Add(item(10+i, "j", "b", t0))
			}
		}, batcher.Demand{Calls: 2 + 2, Rows: 5, Eligible: 2, Fill: 1}},
		{"the most rows of one key, or the packets, whichever is more", 2, false, func(b *batcher.Batcher[cmd]) {
			b.Add(item(1, "k", "a", t0))
			b.Add(item(2, "k", "a", t0))
			for i := range 5 {
				b.Add(item(10+i, fmt.Sprint("j", i), "a", t0))
			}
		}, batcher.Demand{Calls: 4, Rows: 7, Eligible: 6, Fill: 2}},
		{"each split packet is one call", 4, false, func(b *batcher.Batcher[cmd]) {
			for i := range 4 {
				b.Add(item(i, fmt.Sprint("k", i), "a", t0))
			}
			b.Add(item(10, "k0", "a", t0))
			b.Add(item(11, "", "a", t0))
			p, _ := b.Next(t0, 0)
			b.Split(p)
		}, batcher.Demand{Calls: 2 + 1, Rows: 6, Eligible: 5, Fill: 2}},
		{"rows handed out are not counted", 4, true, func(b *batcher.Batcher[cmd]) {
			b.Add(item(1, "k", "a", t0))
			b.Next(t0.Add(time.Hour), 0)
			b.Add(item(2, "k", "a", t0))
			b.Add(item(3, "k", "a", t0))
		}, batcher.Demand{Calls: 1, Rows: 1, Eligible: 0, Fill: 0}},
		{"expanded commands are a row each", 4, true, func(b *batcher.Batcher[cmd]) {
			for i := range 3 {
				b.Add(item(i, "k", "a", t0))
			}
			p, _ := b.Next(t0.Add(time.Hour), 0)
			b.Expand(p.Items...)
		}, batcher.Demand{Calls: 3, Rows: 3, Eligible: 1, Fill: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, batcher.Config{MaxRows: tc.maxRows, MaxWait: time.Second, Collapse: tc.collapse})
			tc.fill(b)
			require.Equal(t, tc.want, b.Demand())
			require.Equal(t, tc.want.Rows, b.Rows())
		})
	}
}

// BenchmarkAddCollapse adds edits of hot objects with Collapse on: most
// join their object's open row; a packet goes every 1,000 commands.
func BenchmarkAddCollapse(b *testing.B) {
	bt, err := batcher.New[cmd](batcher.Config{MaxRows: 100, MaxWait: time.Second, Collapse: true})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	late := t0.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		bt.Add(batcher.Item[cmd]{Key: keys[i%len(keys)], Shape: "ClientUserID,Name,Phone", Arrived: t0, Value: cmd{i}})
		if i%1000 == 999 {
			for {
				p, ok := bt.Next(late, 0)
				if !ok {
					break
				}
				for _, it := range p.Items {
					for range 1 + len(it.Collapsed) {
						bt.Done(it.Key)
					}
				}
			}
		}
	}
}
