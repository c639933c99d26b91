package connect_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// collect reads n replies from l.
func collect(t *testing.T, ctx context.Context, l *connect.Loader, n int) map[string]connect.Reply {
	t.Helper()
	got := map[string]connect.Reply{}
	for len(got) < n {
		rs, err := l.Next(ctx)
		require.NoError(t, err, "%d of %d replies", len(got), n)
		for _, r := range rs {
			_, dup := got[r.ID]
			require.False(t, dup, "one reply per command: %s", r.ID)
			got[r.ID] = r
		}
	}
	return got
}

// TestLoaderOrder loads 300 commands with 16 in flight through the real
// worker: the server receives them in the order given, each with the
// client's reply subject, and every one gets its result.
func TestLoaderOrder(t *testing.T) {
	t.Parallel()
	const n = 300
	b := setup(t, setupOpts{})
	c := b.client(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen, err := b.nc.SubscribeSync(contract.CommandPrefix + "DepartmentAdd")
	require.NoError(t, err)
	require.NoError(t, b.nc.Flush())

	l, err := c.NewLoader(16)
	require.NoError(t, err)
	defer l.Close()
	var acks []*connect.Loaded
	for i := range n {
		ld, err := l.Publish(ctx, connect.Command{ID: fmt.Sprintf("ord-%03d", i), Op: ops.DepartmentAdd{Name: connect.Set(fmt.Sprintf("D %d", i))}}, true)
		require.NoError(t, err)
		acks = append(acks, ld)
	}
	for _, ld := range acks {
		dup, err := l.Stored(ctx, ld)
		require.NoError(t, err)
		require.False(t, dup)
	}
	for i := range n {
		m, err := seen.NextMsg(10 * time.Second)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("ord-%03d", i), m.Header.Get(contract.HeaderMsgID), "publish order")
		require.NotEmpty(t, m.Header.Get(contract.HeaderReplyTo))
	}
	got := collect(t, ctx, l, n)
	for id, r := range got {
		require.NoError(t, r.Err, id)
		require.True(t, r.Result.OK(), id)
	}
}

// TestLoaderDuplicateAndNoWait: a command published again is stored as a
// duplicate and answered from the outcome bucket; one published without
// waiting carries no reply subject.
func TestLoaderDuplicateAndNoWait(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.client(t, "", connect.WithReplyTimeout(400*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen, err := b.nc.SubscribeSync(contract.CommandPrefix + "DepartmentAdd")
	require.NoError(t, err)
	require.NoError(t, b.nc.Flush())

	l, err := c.NewLoader(4)
	require.NoError(t, err)
	defer l.Close()
	cmd := connect.Command{ID: "dup-1", Op: ops.DepartmentAdd{Name: connect.Set("Dup")}}

	// Without waiting: stored, no reply subject, nothing queued.
	ld, err := l.Publish(ctx, cmd, false)
	require.NoError(t, err)
	dup, err := l.Stored(ctx, ld)
	require.NoError(t, err)
	require.False(t, dup)
	m, err := seen.NextMsg(10 * time.Second)
	require.NoError(t, err)
	require.Empty(t, m.Header.Get(contract.HeaderReplyTo))
	first := b.outcomeFinal(t, ctx, "DepartmentAdd", "dup-1")

	// Again, waiting: the stream drops it, the result is the first one's.
	ld, err = l.Publish(ctx, cmd, true)
	require.NoError(t, err)
	dup, err = l.Stored(ctx, ld)
	require.NoError(t, err)
	require.True(t, dup)
	r := collect(t, ctx, l, 1)["dup-1"]
	require.NoError(t, r.Err)
	require.True(t, r.Result.Recovered)
	require.Equal(t, first.Batch, r.Result.Batch)
}

// TestLoaderUnknownOperations: an operation the catalogue lacks is
// refused locally unless WithUnknownOperations, and then the worker
// answers it; a name that is not a subject token is refused either way.
func TestLoaderUnknownOperations(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name     string
		op       string
		opts     []connect.Option
		wantCode string
		local    bool
	}{
		{name: "refused by default", op: "NoSuchOp", wantCode: contract.CodeUnknownOperation, local: true},
		{name: "sent with the option", op: "NoSuchOp", opts: []connect.Option{connect.WithUnknownOperations()}, wantCode: contract.CodeUnknownOperation},
		{name: "not a subject token", op: "No.Such", opts: []connect.Option{connect.WithUnknownOperations()}, wantCode: contract.CodeUnknownOperation, local: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := b.client(t, "", tc.opts...)
			l, err := c.NewLoader(1)
			require.NoError(t, err)
			defer l.Close()
			id := fmt.Sprintf("unk-%d", i)
			ld, err := l.Publish(ctx, connect.Command{ID: id, Op: connect.Raw{Op: tc.op}}, true)
			if tc.local {
				var re *connect.ResultError
				require.True(t, errors.As(err, &re), "%v", err)
				require.True(t, re.Local)
				require.Equal(t, tc.wantCode, re.Code)
				return
			}
			require.NoError(t, err)
			_, err = l.Stored(ctx, ld)
			require.NoError(t, err)
			r := collect(t, ctx, l, 1)[id]
			require.ErrorIs(t, r.Err, connect.ErrUnknownOperation)
			require.Equal(t, tc.wantCode, r.Result.Code)
		})
	}
}

// TestLoaderNoStream: a publish no stream takes fails at its
// acknowledgement, not retried, and its result is not waited for.
func TestLoaderNoStream(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.client(t, "", connect.WithCommandPrefix("elsewhere."), connect.WithPublishTimeout(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := c.NewLoader(1)
	require.NoError(t, err)
	defer l.Close()
	ld, err := l.Publish(ctx, connect.Command{ID: "ns-1", Op: ops.DepartmentAdd{Name: connect.Set("x")}}, true)
	require.NoError(t, err)
	_, err = l.Stored(ctx, ld)
	require.ErrorIs(t, err, jetstream.ErrNoStreamResponse)
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	_, err = l.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "no result is queued")
}
