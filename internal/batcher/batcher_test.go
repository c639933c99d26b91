package batcher_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/batcher"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type cmd struct{ id int }

func item(id int, key, shape string, at time.Time) batcher.Item[cmd] {
	return batcher.Item[cmd]{Key: key, Shape: shape, Arrived: at, Value: cmd{id}}
}

func ids(p batcher.Packet[cmd]) []int {
	out := make([]int, len(p.Items))
	for i, it := range p.Items {
		out[i] = it.Value.id
	}
	return out
}

func setup(t *testing.T, cfg batcher.Config) *batcher.Batcher[cmd] {
	t.Helper()
	b, err := batcher.New[cmd](cfg)
	require.NoError(t, err)
	return b
}

func TestFullPacketIsReadyAtOnce(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 3, MaxWait: time.Second})
	require.False(t, b.Add(item(1, "a", "s", t0)))
	require.False(t, b.Add(item(2, "b", "s", t0)))
	_, ok := b.Next(t0, 0)
	require.False(t, ok, "two of three rows, nothing waited: not ready")
	d, ok := b.UntilNext(t0)
	require.True(t, ok)
	require.Equal(t, time.Second, d)
	require.True(t, b.Add(item(3, "c", "s", t0)))
	p, ok := b.Next(t0, 0)
	require.True(t, ok)
	require.Equal(t, []int{1, 2, 3}, ids(p))
	require.Equal(t, 0, b.Len())
	_, ok = b.UntilNext(t0)
	require.False(t, ok)
}

func TestReadyTellsTheFillOfTheNextPacket(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 3, MaxWait: time.Second})
	require.Zero(t, b.Ready(t0))
	b.Add(item(1, "", "s", t0))
	b.Add(item(2, "", "s", t0))
	require.Zero(t, b.Ready(t0), "not due yet")
	require.Equal(t, 2, b.Ready(t0.Add(time.Second)))
	for i := range 5 {
		b.Add(item(10+i, "", "t", t0.Add(time.Millisecond)))
	}
	require.Equal(t, 3, b.Ready(t0), "a full packet is ready at once")
	require.Equal(t, 2, b.Ready(t0.Add(time.Second)), "the oldest group goes first")
	p, _ := b.Next(t0.Add(time.Second), 0)
	require.Len(t, p.Items, 2)
}

func TestMaxWait(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 100, MaxWait: 2 * time.Second})
	b.Add(item(1, "", "s", t0))
	b.Add(item(2, "", "s", t0.Add(time.Second)))
	d, _ := b.UntilNext(t0.Add(500 * time.Millisecond))
	require.Equal(t, 1500*time.Millisecond, d, "due when the oldest has waited MaxWait")
	_, ok := b.Next(t0.Add(1999*time.Millisecond), 0)
	require.False(t, ok)
	p, ok := b.Next(t0.Add(2*time.Second), 0)
	require.True(t, ok)
	require.Equal(t, []int{1, 2}, ids(p))
}

func TestMinRowsHoldsPartialPackets(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 4, MaxWait: time.Second})
	for i := range 3 {
		b.Add(item(i, "", "s", t0))
	}
	late := t0.Add(time.Hour)
	_, ok := b.Next(late, 4)
	require.False(t, ok, "scarce calls: a partial packet waits even past MaxWait")
	p, ok := b.Next(late, 3)
	require.True(t, ok)
	require.Len(t, p.Items, 3)
	for i := range 4 {
		b.Add(item(10+i, "", "s", late))
	}
	p, ok = b.Next(late, 1000)
	require.True(t, ok, "a full packet is never held back")
	require.Len(t, p.Items, 4)
}

func TestShapesNeverMix(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 10, MaxWait: time.Second})
	b.Add(item(1, "", "Name", t0))
	b.Add(item(2, "", "Name,Phone", t0.Add(time.Millisecond)))
	b.Add(item(3, "", "Name", t0.Add(2*time.Millisecond)))
	p1, ok := b.Next(t0.Add(time.Hour), 0)
	require.True(t, ok)
	p2, ok := b.Next(t0.Add(time.Hour), 0)
	require.True(t, ok)
	require.Equal(t, "Name", p1.Shape, "the group with the oldest command goes first")
	require.Equal(t, []int{1, 3}, ids(p1))
	require.Equal(t, "Name,Phone", p2.Shape)
	require.Equal(t, []int{2}, ids(p2))
}

func TestSameKeyWaitsForDone(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 10, MaxWait: -1})
	b.Add(item(1, "u1", "s", t0))
	b.Add(item(2, "u1", "s", t0))
	b.Add(item(3, "u2", "s", t0))
	require.Equal(t, 3, b.Len())
	require.Equal(t, 1, b.Held())
	p, ok := b.Next(t0, 0)
	require.True(t, ok)
	require.Equal(t, []int{1, 3}, ids(p), "the second command for u1 waits")
	_, ok = b.Next(t0, 0)
	require.False(t, ok)

	// The first command's row was not processed: it is sent again before
	// the held one is released.
	b.Requeue(p.Items[:1])
	b.Done("u2")
	p, ok = b.Next(t0, 0)
	require.True(t, ok)
	require.Equal(t, []int{1}, ids(p))
	b.Done("u1")
	p, ok = b.Next(t0, 0)
	require.True(t, ok)
	require.Equal(t, []int{2}, ids(p))
	b.Done("u1")
	require.Equal(t, 0, b.Len())
	b.Add(item(4, "u1", "s", t0))
	p, _ = b.Next(t0, 0)
	require.Equal(t, []int{4}, ids(p), "u1 is free again")
}

func TestRequeueGoesFirstAndMerges(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 3, MaxWait: time.Second})
	for i := 1; i <= 3; i++ {
		b.Add(item(i, "", "s", t0))
	}
	p, _ := b.Next(t0, 0)
	b.Add(item(4, "", "s", t0.Add(time.Minute)))
	b.Add(item(5, "", "s", t0.Add(time.Minute)))
	b.Requeue(p.Items[1:]) // rows 2 and 3 were not processed
	p, ok := b.Next(t0.Add(time.Minute), 0)
	require.True(t, ok, "requeued rows fill the next packet")
	require.Equal(t, []int{2, 3, 4}, ids(p))
	p, ok = b.Next(t0.Add(time.Minute), 0)
	require.False(t, ok, "5 arrived just now and waits")
	require.Equal(t, 1, b.Len())
}

func TestSplitIsolatesABadRow(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 8, MaxWait: time.Second})
	for i := range 8 {
		b.Add(item(i, fmt.Sprint("k", i), "s", t0))
	}
	p, _ := b.Next(t0, 0)
	bad := 5
	calls := 1
	// A packet containing the bad row fails as a whole: split it until the
	// bad row is alone; the other rows succeed.
	b.Split(p)
	var alone []int
	for {
		p, ok := b.Next(t0, 0)
		if !ok {
			break
		}
		calls++
		has := false
		for _, it := range p.Items {
			has = has || it.Value.id == bad
		}
		switch {
		case has && len(p.Items) > 1:
			b.Split(p)
		case has:
			alone = ids(p)
			b.Done(p.Items[0].Key)
		default:
			for _, it := range p.Items {
				b.Done(it.Key)
			}
		}
	}
	require.Equal(t, []int{bad}, alone)
	require.Equal(t, 0, b.Len())
	require.LessOrEqual(t, calls, 1+2*3, "a bad row among 8 costs at most 2 calls per halving")
}

func TestReturnGivesTheSamePacketBack(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 2, MaxWait: -1})
	b.Add(item(1, "a", "s", t0))
	b.Add(item(2, "b", "s", t0))
	b.Add(item(3, "c", "s", t0))
	p, _ := b.Next(t0, 0)
	require.Equal(t, 1, b.Len())
	b.Return(p)
	require.Equal(t, 3, b.Len())
	again, ok := b.Next(t0, 0)
	require.True(t, ok)
	require.Equal(t, ids(p), ids(again))
}

func TestFlushReturnsEverythingButHeld(t *testing.T) {
	b := setup(t, batcher.Config{MaxRows: 2, MaxWait: time.Hour})
	b.Add(item(1, "a", "x", t0.Add(time.Second)))
	b.Add(item(2, "a", "x", t0)) // held behind 1
	b.Add(item(3, "b", "y", t0))
	b.Add(item(4, "c", "x", t0.Add(2*time.Second)))
	b.Add(item(5, "d", "x", t0.Add(3*time.Second)))
	out := b.Flush()
	require.Len(t, out, 3)
	require.Equal(t, []int{3}, ids(out[0]))
	require.Equal(t, []int{1, 4}, ids(out[1]))
	require.Equal(t, []int{5}, ids(out[2]))
	require.Equal(t, 1, b.Len())
	require.Equal(t, 1, b.Held())
}

func TestNewValidates(t *testing.T) {
	_, err := batcher.New[cmd](batcher.Config{MaxRows: -1})
	require.Error(t, err)
	b := setup(t, batcher.Config{})
	require.Equal(t, 100, b.Config().MaxRows)
	require.Equal(t, 2*time.Second, b.Config().MaxWait)
}

func BenchmarkAddNext(b *testing.B) {
	bt, err := batcher.New[cmd](batcher.Config{MaxRows: 100, MaxWait: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		key := keys[i%len(keys)]
		if bt.Add(batcher.Item[cmd]{Key: key, Shape: "ClientUserID,Name,Phone", Arrived: t0, Value: cmd{i}}) {
			p, _ := bt.Next(t0, 0)
			for _, it := range p.Items {
				bt.Done(it.Key)
			}
		}
	}
}
