package connect_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// TestPublishRetriedAfterCutConnectionIsOneCommand cuts the client off
// after its publish reached the stream but before the acknowledgement
// came back: the client publishes again, with the same id, once it is
// connected again. The stream stores one command, the sandbox sees one
// row, and the result still comes (from the outcome bucket: the reply
// was lost in the cut too).
func TestPublishRetriedAfterCutConnectionIsOneCommand(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	user := b.emu.SeedClientUsers(1)[0]
	px := newProxy(t, b.srv.Addr().String())
	c := b.client(t, px.url(), connect.WithPublishTimeout(300*time.Millisecond), connect.WithReplyTimeout(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Every publish of the command, as the server receives it.
	var seen atomic.Int32
	first := make(chan struct{}, 1)
	sub, err := b.nc.Subscribe(contract.CommandPrefix+"ClientUserEdit", func(m *nats.Msg) {
		if m.Header.Get(contract.HeaderMsgID) == "cut-1" && seen.Add(1) == 1 {
			first <- struct{}{}
		}
	})
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.nc.Flush())

	px.set(blackhole)
	type outcome struct {
		res connect.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.Do(ctx, ops.ClientUserEdit{ClientUserID: user, Name: "Cut", Password: "p", Phone: "1", EMail: "c@example.com"}, connect.WithID("cut-1"))
		done <- outcome{res, err}
	}()
	wait(t, ctx, first, "the first publish")
	px.set(forward)
	px.cut()

	got := wait(t, ctx, done, "Do")
	require.NoError(t, got.err)
	require.True(t, got.res.OK())
	require.Equal(t, 1, got.res.Attempts)

	require.GreaterOrEqual(t, seen.Load(), int32(2), "the command was published more than once")
	st, err := b.js.Stream(ctx, contract.CommandStream)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.CachedInfo().State.LastSeq, "the stream stored one command")
	require.Equal(t, 1, b.emu.Stats().Rows["ClientUserEdit"], "the sandbox saw one row")
	require.Equal(t, []string{user}, b.emu.Applied("ClientUserEdit"))
}

// TestReplyLostToReconnectIsRecovered: the worker answers while the
// client is disconnected, so the reply goes nowhere; once connected
// again, the client reads the result from the outcome bucket. The reply
// timeout is long: the reconnection alone makes it look.
func TestReplyLostToReconnectIsRecovered(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{gate: true})
	px := newProxy(t, b.srv.Addr().String())
	c := b.client(t, px.url(), connect.WithReplyTimeout(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The worker's reply, seen from the test's own connection.
	replied := make(chan struct{}, 1)
	sub, err := b.nc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if r, err := contract.DecodeResult(m.Data); err == nil && r.ID == "lost-1" {
			replied <- struct{}{}
		}
	})
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.nc.Flush())

	type outcome struct {
		res connect.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.Do(ctx, ops.RegionRead{}, connect.WithID("lost-1"))
		done <- outcome{res, err}
	}()
	wait(t, ctx, b.gate.entered, "the worker's call")
	px.set(refuse)
	px.cut()
	b.gate.open()
	b.outcomeFinal(t, ctx, "RegionRead", "lost-1")
	wait(t, ctx, replied, "the reply the client missed")
	select {
	case got := <-done:
		t.Fatalf("Do returned while disconnected: %+v", got)
	default:
	}
	px.set(forward)

	got := wait(t, ctx, done, "Do")
	require.NoError(t, got.err)
	require.True(t, got.res.OK())
	require.True(t, got.res.Recovered, "read from the outcome bucket")
	var rows []map[string]any
	require.NoError(t, got.res.Decode(&rows))
	require.NotEmpty(t, rows)
}

// TestReplyTimeoutReadsTheBucket: with a reply subject the worker does
// not allow (the client was told a wider allow-list than the worker
// has), no reply ever comes; the result, REPLY_REFUSED, is read from the
// outcome bucket after the reply timeout.
func TestReplyTimeoutReadsTheBucket(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.client(t, "", connect.WithReplyPrefix("billing.replies"), connect.WithReplyAllow("billing.>"),
		connect.WithReplyTimeout(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Do(ctx, ops.RegionRead{})
	require.ErrorIs(t, err, connect.ErrReplyRefused)
	require.True(t, res.Recovered)
	require.Contains(t, res.Message, "billing.replies")
}
