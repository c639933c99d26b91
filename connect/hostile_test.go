package connect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// TestForgedRepliesAreDropped publishes to a waiting command's reply
// subject, before the worker answers: garbage, a result of another id,
// of another operation, a payload nested past the bounds. None is taken
// for the command's result; the worker's is.
func TestForgedRepliesAreDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{gate: true})
	c := b.client(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	replyTo := make(chan string, 1)
	sub, err := b.nc.Subscribe(contract.CommandPrefix+"RegionRead", func(m *nats.Msg) {
		replyTo <- m.Header.Get(contract.HeaderReplyTo)
	})
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.nc.Flush())

	done := make(chan error, 1)
	var res connect.Result
	go func() {
		var err error
		res, err = c.Do(ctx, ops.RegionRead{}, connect.WithID("real-1"))
		done <- err
	}()
	to := wait(t, ctx, replyTo, "the command")
	wait(t, ctx, b.gate.entered, "the worker's call")
	forged := func(r contract.Result) []byte {
		p, err := contract.EncodeResult(contract.JSON, r)
		require.NoError(t, err)
		return p
	}
	for _, p := range [][]byte{
		[]byte("not a result"),
		forged(contract.Result{ID: "other", Op: "RegionRead", Code: contract.CodeSuccess}),
		forged(contract.Result{ID: "real-1", Op: "ClientUserEdit", Code: contract.CodeSuccess}),
		[]byte(`{"id":"real-1","op":"RegionRead","code":"SUCCESS","data":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`),
	} {
		require.NoError(t, b.nc.Publish(to, p))
	}
	require.NoError(t, b.nc.Flush())
	b.gate.open()
	require.NoError(t, wait(t, ctx, done, "Do"))
	require.True(t, res.OK())
	require.NotEmpty(t, res.Batch, "the worker's result, not a forged one")
	require.NotNil(t, res.Data)
}
