package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// held waits until the consumer of op has n commands delivered and not
// acknowledged: a worker holds them.
func held(t *testing.T, js jetstream.JetStream, op string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d commands of %s held", n, op), func() bool {
		c, err := js.Consumer(context.Background(), contract.CommandStream, "cmd-"+op)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == n
	})
}

// noCalls is a limit of 0 calls for op: its commands are held, never sent.
func noCalls(op string) quota.Limits {
	return quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{op: 0, "*": 100000}, Reserve: -1}
}

// TestPoisonAfterMaxDeliver: a command handed back at shutdown is
// delivered again; at MaxDeliver deliveries it is answered POISON without
// being read, and its dead letter keeps no Password.
func TestPoisonAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	maxDeliver := func(c *worker.Config) { c.MaxDeliver = 2 }
	o := options{limits: noCalls("ClientUserEdit"), worker: maxDeliver}
	b := setup(t, o)
	users := b.emu.SeedClientUsers(1)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	fields := userFields(users[0], 1)
	fields["Password"] = "pSecret-1x"
	publish(t, b.js, "ClientUserEdit", "p-1", inbox, fields)
	held(t, b.js, "ClientUserEdit", 1)

	b.stop() // hands the command back: its second delivery comes next
	b.startWorker(t, o)
	r := col.Wait(t, 1, 30*time.Second)["p-1"]
	require.Len(t, r, 1)
	require.Equal(t, contract.CodePoison, r[0].Code)
	require.Contains(t, r[0].Error, "delivered 2 times")

	dl := streamMessages(t, b.js, contract.DLQStream)
	require.Len(t, dl, 1)
	require.Equal(t, contract.CodePoison, dl[0].Headers().Get(contract.HeaderDLQCode))
	require.NotContains(t, string(dl[0].Data()), "pSecret-1x", "the dead letter's Password is redacted")
	require.Contains(t, string(dl[0].Data()), contract.Redacted)
	require.Contains(t, string(dl[0].Data()), users[0], "the rest of the command is kept")
}

// TestPoisonAdvisoryAnswersAStuckCommand: a command the server stopped
// delivering (its last delivery's worker died too) is named by the
// server's max-deliveries advisory; the worker answers it POISON from the
// stored message and removes it from the stream.
func TestPoisonAdvisoryAnswersAStuckCommand(t *testing.T) {
	t.Parallel()
	// The worker serves ClientUserEdit only: nobody consumes the
	// ClientUserDelete command, as if its deliveries had run out.
	b := setup(t, options{worker: func(c *worker.Config) { c.Operations = []string{"ClientUserEdit"} }})
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	publish(t, b.js, "ClientUserDelete", "stuck-1", inbox, map[string]any{"ClientUserID": "00000000-0000-4000-8000-000000000009"})
	ctx := context.Background()
	st, err := b.js.Stream(ctx, contract.CommandStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	seq := info.State.LastSeq

	adv, err := json.Marshal(map[string]any{
		"type": "io.nats.jetstream.advisory.v1.max_deliver", "stream": contract.CommandStream,
		"consumer": "cmd-ClientUserDelete", "stream_seq": seq, "deliveries": 10,
	})
	require.NoError(t, err)
	require.NoError(t, b.nc.Publish("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+contract.CommandStream+".cmd-ClientUserDelete", adv))

	r := col.Wait(t, 1, 30*time.Second)["stuck-1"]
	require.Equal(t, contract.CodePoison, r[0].Code)
	waitFor(t, 10*time.Second, "the stuck command deleted", func() bool {
		_, err := st.GetMsg(ctx, seq)
		return err != nil
	})
	require.Len(t, streamMessages(t, b.js, contract.DLQStream), 1)
}

// TestDeadLetterRefusedForGood: a dead letter the dead-letter stream
// refuses (larger than its max message size) is written again without the
// original message; the command still gets its one result and is
// acknowledged, and the finisher goes on with the next commands.
func TestDeadLetterRefusedForGood(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	st, err := b.js.Stream(ctx, contract.DLQStream)
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 4 << 10
	_, err = b.js.UpdateStream(ctx, cfg)
	require.NoError(t, err)

	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i := range 6 {
		// Unreadable, 8 KB: a dead letter each, too large for the stream.
		m := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
		m.Data = []byte(strings.Repeat("x", 8<<10))
		m.Header.Set(contract.HeaderMsgID, fmt.Sprint("big-", i))
		m.Header.Set(contract.HeaderReplyTo, inbox)
		_, err := b.js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	users := b.emu.SeedClientUsers(1)
	publish(t, b.js, "ClientUserEdit", "good", inbox, userFields(users[0], 1))
	got := col.Wait(t, 7, 30*time.Second)
	require.Equal(t, contract.CodeSuccess, got["good"][0].Code)
	for i := range 6 {
		require.Equal(t, contract.CodeInvalidCommand, got[fmt.Sprint("big-", i)][0].Code)
	}
	dl := streamMessages(t, b.js, contract.DLQStream)
	require.Len(t, dl, 6)
	for _, m := range dl {
		require.Empty(t, m.Data(), "the payload is left out")
		require.NotEmpty(t, m.Headers().Get(contract.HeaderDLQTruncated))
	}
	c, err := b.js.Consumer(ctx, contract.CommandStream, "cmd-ClientUserEdit")
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "every command acknowledged", func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// TestDuplicateAddSentOnce: two messages carry the same …Add command (one
// id, published twice past the stream's de-duplication): only one of them
// is sent to the API; the other loses the race for the "sent" record and
// is answered from the first one's outcome.
func TestDuplicateAddSentOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{worker: func(c *worker.Config) { c.Defaults.CallTimeout = worker.Duration(time.Second) }})
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	ctx := context.Background()
	data, err := json.Marshal(map[string]any{"id": "dup-add", "fields": addFields(1)})
	require.NoError(t, err)
	for i := range 2 {
		m := nats.NewMsg(contract.CommandPrefix + "ClientUserAdd")
		m.Data = data
		m.Header.Set(contract.HeaderMsgID, fmt.Sprint("dup-add-copy-", i))
		m.Header.Set(contract.HeaderReplyTo, inbox)
		_, err := b.js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	waitFor(t, 30*time.Second, "both messages answered", func() bool {
		return len(col.Get()["dup-add"]) == 2
	})
	rs := col.Get()["dup-add"]
	require.Equal(t, rs[0], rs[1], "one result for both")
	require.Equal(t, contract.CodeSuccess, rs[0].Code)
	require.Len(t, b.emu.Applied("ClientUserAdd"), 1, "sent to the API once")
}
