package connect_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/dlqtest"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

// dlqClient makes a client of b's server, closed when the test ends.
func dlqClient(t *testing.T, b *dlqtest.Bundle) (*connect.Client, jetstream.JetStream) {
	t.Helper()
	nc, js := natstest.Connect(t, b.Srv.ClientURL())
	c, err := connect.New(nc, connect.WithReplyTimeout(2*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, js
}

// only returns the one dead letter f selects.
func only(t *testing.T, ctx context.Context, c *connect.Client, f connect.DLQFilter) connect.DeadLetter {
	t.Helper()
	dls, err := c.DeadLetters(ctx, f)
	require.NoError(t, err)
	require.Len(t, dls, 1, "dead letters of %+v", f)
	return dls[0]
}

// TestReplayTransportError: an edit whose calls keep failing (HTTP 503)
// ends TRANSPORT_ERROR in the dead-letter stream, its password redacted.
// Its replay is refused until the password is given; given, it succeeds
// once the sandbox works again, under an id that names the original, and
// a second replay of the same dead letter runs nothing. A replay that
// fails in its turn is dead-lettered naming the first original.
func TestReplayTransportError(t *testing.T) {
	t.Parallel()
	b := dlqtest.Start(t, dlqtest.Unavailable)
	user := b.Emu.SeedClientUsers(1)[0]
	c, _ := dlqClient(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	edit := ops.ClientUserEdit{ClientUserID: user, Name: "Анна", Password: "secret1", Phone: "+7 900 000-00-01", EMail: "anna@example.com"}
	_, err := c.Do(ctx, edit, connect.WithID("edit-1"))
	require.ErrorIs(t, err, connect.ErrTransportError)
	require.Equal(t, 2, b.Switch.Refused(), "two attempts")

	dl := only(t, ctx, c, connect.DLQFilter{Op: "ClientUserEdit"})
	require.Equal(t, "edit-1", dl.ID)
	require.Equal(t, "ClientUserEdit", dl.Op)
	require.Equal(t, contract.CodeTransportError, dl.Code)
	require.Contains(t, dl.Reason, "retries exhausted")
	require.Equal(t, contract.CommandPrefix+"ClientUserEdit", dl.Subject)
	require.Equal(t, "Анна", dl.Fields["Name"])
	require.Equal(t, contract.Redacted, dl.Fields["Password"])
	require.Equal(t, []string{"Password"}, dl.Redacted)
	require.WithinDuration(t, time.Now(), dl.Time, time.Minute)
	require.Empty(t, dl.ReplayOf)

	b.Switch.Set(dlqtest.Open)
	_, err = c.Replay(ctx, dl)
	require.ErrorIs(t, err, connect.ErrReplayRedacted)
	var re *connect.ReplayError
	require.True(t, errors.As(err, &re))
	require.Equal(t, []string{"Password"}, re.Fields)
	require.NotContains(t, err.Error(), "secret1")
	require.Zero(t, b.Emu.Stats().Calls["ClientUserEdit"], "nothing sent")

	withPassword := connect.ReplayWithFields(map[string]any{"Password": "secret1"})
	res, err := c.Replay(ctx, dl, withPassword)
	require.NoError(t, err)
	require.True(t, res.OK())
	want := "edit-1-replay-" + strconv.FormatUint(dl.Seq, 10)
	require.Equal(t, want, res.ID, "the result names the original")
	require.Equal(t, want, connect.ReplayID(dl))
	u, ok := b.Emu.Get("ClientUser", user)
	require.True(t, ok)
	require.Equal(t, "Анна", u.Fields["Name"].Text)
	require.Equal(t, 1, b.Emu.Stats().Calls["ClientUserEdit"])

	again, err := c.Replay(ctx, dl, withPassword)
	require.NoError(t, err)
	require.Equal(t, want, again.ID)
	require.Equal(t, res.Batch, again.Batch, "answered from the first replay's outcome")
	require.Equal(t, 1, b.Emu.Stats().Calls["ClientUserEdit"], "a second replay of one dead letter runs nothing")

	// A replay that fails too is dead-lettered; its replay names the
	// first original, not a chain.
	b.Switch.Set(dlqtest.Unavailable)
	_, err = c.Replay(ctx, dl, connect.ReplayWithFields(map[string]any{"Password": "secret1", "Name": "Бэлла"}))
	require.NoError(t, err, "answered from the outcome: same id, same result")
	edit.Name = "Бэлла"
	_, err = c.Do(ctx, edit, connect.WithID("edit-2"))
	require.ErrorIs(t, err, connect.ErrTransportError)
	dl2 := only(t, ctx, c, connect.DLQFilter{ID: "edit-2"})
	_, err = c.Replay(ctx, dl2, withPassword)
	require.ErrorIs(t, err, connect.ErrTransportError)
	dl3 := only(t, ctx, c, connect.DLQFilter{ID: connect.ReplayID(dl2)})
	require.Equal(t, "edit-2", dl3.ReplayOf)
	require.Equal(t, "edit-2-replay-"+strconv.FormatUint(dl3.Seq, 10), connect.ReplayID(dl3))
	b.Switch.Set(dlqtest.Open)
	res, err = c.Replay(ctx, dl3, withPassword)
	require.NoError(t, err)
	require.Equal(t, connect.ReplayID(dl3), res.ID)
	u, _ = b.Emu.Get("ClientUser", user)
	require.Equal(t, "Бэлла", u.Fields["Name"].Text)
}

// TestReplayUnknownOutcome: an Add cut after it may have been processed
// (HTTP 500) ends UNKNOWN_OUTCOME; its replay is refused without force,
// saying why, and sends nothing; with force it creates the object.
func TestReplayUnknownOutcome(t *testing.T) {
	t.Parallel()
	b := dlqtest.Start(t, dlqtest.Broken)
	c, _ := dlqClient(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := c.Do(ctx, ops.DepartmentAdd{Name: connect.Set("Support")}, connect.WithID("add-1"))
	require.ErrorIs(t, err, connect.ErrUnknownOutcome)
	require.Equal(t, 1, b.Switch.Refused(), "never repeated")
	dl := only(t, ctx, c, connect.DLQFilter{Code: contract.CodeUnknownOutcome})
	require.Equal(t, "add-1", dl.ID)

	b.Switch.Set(dlqtest.Open)
	_, err = c.Replay(ctx, dl)
	require.ErrorIs(t, err, connect.ErrReplayNeedsForce)
	require.ErrorContains(t, err, "DepartmentAdd is not safe to send twice")
	require.Zero(t, b.Emu.Stats().Calls["DepartmentAdd"], "nothing sent")

	res, err := c.Replay(ctx, dl, connect.WithForce())
	require.NoError(t, err)
	require.Equal(t, "add-1-replay-"+strconv.FormatUint(dl.Seq, 10), res.ID)
	var added struct{ DepartmentID string }
	require.NoError(t, res.Decode(&added))
	d, ok := b.Emu.Get("Department", added.DepartmentID)
	require.True(t, ok)
	require.Equal(t, "Support", d.Fields["Name"].Text)

	t.Run("a msgpack command is replayed in msgpack", func(t *testing.T) {
		b.Switch.Set(dlqtest.Broken)
		nc, js := natstest.Connect(t, b.Srv.ClientURL())
		mc, err := connect.New(nc, connect.WithFormat(connect.MsgPack))
		require.NoError(t, err)
		defer func() { require.NoError(t, mc.Close()) }()
		_, err = mc.Do(ctx, ops.DepartmentAdd{Name: connect.Set("Sales")}, connect.WithID("add-mp"))
		require.ErrorIs(t, err, connect.ErrUnknownOutcome)
		dl := only(t, ctx, c, connect.DLQFilter{ID: "add-mp"})
		require.Equal(t, connect.MsgPack, dl.Format)
		require.Equal(t, "Sales", dl.Fields["Name"])
		b.Switch.Set(dlqtest.Open)
		res, err := c.Replay(ctx, dl, connect.WithForce()) // from a JSON client
		require.NoError(t, err)
		// The worker answers in the command's format: a msgpack result
		// carries no JSON Content-Type.
		s, err := js.Stream(ctx, contract.ResultStream)
		require.NoError(t, err)
		last, err := s.GetLastMsgForSubject(ctx, contract.ResultPrefix+"DepartmentAdd")
		require.NoError(t, err)
		r, err := contract.DecodeResult(last.Data)
		require.NoError(t, err)
		require.Equal(t, res.ID, r.ID)
		require.Empty(t, last.Header.Get(contract.HeaderContentType), "a msgpack result")
	})
}

// TestReplayID: the replay's id names the original, and stays a valid
// id however long the original's.
func TestReplayID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("я", 128) // 256 bytes
	for _, tc := range []struct {
		name string
		dl   connect.DeadLetter
		want string
	}{
		{"plain", connect.DeadLetter{ID: "c-1", Seq: 7}, "c-1-replay-7"},
		{"of a replay", connect.DeadLetter{ID: "c-1-replay-7", ReplayOf: "c-1", Seq: 9}, "c-1-replay-9"},
		{"without an id", connect.DeadLetter{Seq: 3}, "dlq-replay-3"},
		{"long, cut on a character", connect.DeadLetter{ID: long, Seq: 12345}, strings.Repeat("я", 121) + "-replay-12345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := connect.ReplayID(tc.dl)
			require.Equal(t, tc.want, got)
			require.NoError(t, contract.ValidID(got))
		})
	}
}

// TestDeadLettersFilterAndPurge lists and purges by operation, code, id,
// sequence and limit, and refuses what is not a dead letter's name.
func TestDeadLettersFilterAndPurge(t *testing.T) {
	t.Parallel()
	b := dlqtest.Start(t, dlqtest.Broken)
	users := b.Emu.SeedClientUsers(3)
	c, js := dlqClient(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Three edits end TRANSPORT_ERROR, two adds UNKNOWN_OUTCOME.
	var pend []*connect.Pending
	for i, u := range users {
		p, err := c.Submit(ctx, ops.ClientUserEdit{ClientUserID: u, Name: "N", Password: "p", Phone: "1", EMail: "a@b.c"}, connect.WithID("e-"+strconv.Itoa(i)))
		require.NoError(t, err)
		pend = append(pend, p)
	}
	for i := range 2 {
		p, err := c.Submit(ctx, ops.DepartmentAdd{Name: connect.Set("D")}, connect.WithID("a-"+strconv.Itoa(i)))
		require.NoError(t, err)
		pend = append(pend, p)
	}
	for _, p := range pend {
		_, err := p.Wait(ctx)
		require.Error(t, err)
	}
	all, err := c.DeadLetters(ctx, connect.DLQFilter{})
	require.NoError(t, err)
	require.Len(t, all, 5)
	for i := 1; i < len(all); i++ {
		require.Less(t, all[i-1].Seq, all[i].Seq, "oldest first")
	}

	count := func(f connect.DLQFilter) int {
		dls, err := c.DeadLetters(ctx, f)
		require.NoError(t, err)
		return len(dls)
	}
	for _, tc := range []struct {
		name string
		f    connect.DLQFilter
		want int
	}{
		{"by operation", connect.DLQFilter{Op: "ClientUserEdit"}, 3},
		{"by code", connect.DLQFilter{Code: contract.CodeUnknownOutcome}, 2},
		{"by operation and code", connect.DLQFilter{Op: "DepartmentAdd", Code: contract.CodeTransportError}, 0},
		{"by id", connect.DLQFilter{ID: "e-1"}, 1},
		{"an operation without any", connect.DLQFilter{Op: "RegionRead"}, 0},
		{"after a sequence", connect.DLQFilter{After: all[2].Seq}, 2},
		{"after the last", connect.DLQFilter{After: all[4].Seq}, 0},
		{"limited", connect.DLQFilter{Limit: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, count(tc.f))
		})
	}
	t.Run("bad filters", func(t *testing.T) {
		for _, f := range []connect.DLQFilter{{Op: "ClientUserEdit.>"}, {Op: "*"}, {Op: "a b"}, {ID: "bad\x00id"}, {Limit: -1}} {
			_, err := c.DeadLetters(ctx, f)
			require.Error(t, err, "%+v", f)
			_, err = c.PurgeDeadLetters(ctx, f)
			require.Error(t, err, "%+v", f)
		}
	})
	t.Run("by sequence", func(t *testing.T) {
		dl, err := c.DeadLetter(ctx, all[1].Seq)
		require.NoError(t, err)
		require.Equal(t, all[1].ID, dl.ID)
		_, err = c.DeadLetter(ctx, all[4].Seq+100)
		require.ErrorIs(t, err, connect.ErrDeadLetterNotFound)
	})

	// A message under the prefix that is no command of the worker's, and
	// a forged replay header: read, never trusted.
	m := nats.NewMsg(contract.DLQPrefix + "ClientUserEdit")
	m.Data = []byte("\xc1 not a command")
	m.Header.Set(contract.HeaderDLQCode, contract.CodeTransportError)
	m.Header.Set(contract.HeaderMsgID, "dlq.ClientUserEdit.!!!.x.1")
	m.Header.Set(connect.HeaderReplayOf, "e-0")
	m.Header.Set(connect.HeaderReplaySeq, "1")
	_, err = js.PublishMsg(ctx, m)
	require.NoError(t, err)
	junk := only(t, ctx, c, connect.DLQFilter{After: all[4].Seq})
	require.Empty(t, junk.ID)
	require.Empty(t, junk.ReplayOf)
	require.Nil(t, junk.Fields)
	require.NotEmpty(t, junk.Unreadable)
	_, err = c.Replay(ctx, junk)
	require.ErrorIs(t, err, connect.ErrReplayUnreadable)

	// A dead letter the worker cut to fit is not replayed, even though
	// what is left reads as a command.
	m = nats.NewMsg(contract.DLQPrefix + "DepartmentAdd")
	m.Data = []byte(`{"id":"cut","fields":{"Name":"D"}}`)
	m.Header.Set(contract.HeaderDLQCode, contract.CodeTransportError)
	m.Header.Set(contract.HeaderDLQTruncated, "payload cut to 40 of 2000000 bytes")
	_, err = js.PublishMsg(ctx, m)
	require.NoError(t, err)
	cut := only(t, ctx, c, connect.DLQFilter{After: junk.Seq})
	require.Nil(t, cut.Fields)
	require.Contains(t, cut.Unreadable, "cut it to fit")
	_, err = c.Replay(ctx, cut, connect.WithForce())
	require.ErrorIs(t, err, connect.ErrReplayUnreadable)
	require.NoError(t, c.DeleteDeadLetter(ctx, cut.Seq))

	n, err := c.PurgeDeadLetters(ctx, connect.DLQFilter{Code: contract.CodeUnknownOutcome, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 1, n, "by sequence, at most the limit")
	require.Equal(t, 1, count(connect.DLQFilter{Op: "DepartmentAdd"}))
	n, err = c.PurgeDeadLetters(ctx, connect.DLQFilter{ID: "e-2"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = c.PurgeDeadLetters(ctx, connect.DLQFilter{Op: "ClientUserEdit"})
	require.NoError(t, err)
	require.Equal(t, 3, n, "the whole subject: two edits and the junk")
	require.Equal(t, 1, count(connect.DLQFilter{}))
	require.NoError(t, c.DeleteDeadLetter(ctx, only(t, ctx, c, connect.DLQFilter{}).Seq))
	require.Zero(t, count(connect.DLQFilter{}))
	require.ErrorIs(t, c.DeleteDeadLetter(ctx, all[0].Seq), connect.ErrDeadLetterNotFound)
	n, err = c.PurgeDeadLetters(ctx, connect.DLQFilter{})
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestDeadLettersWithoutStream: before any worker ran there is no
// stream, which is said, not an empty list.
func TestDeadLettersWithoutStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	nc, _ := natstest.Connect(t, srv.ClientURL())
	c, err := connect.New(nc)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.DeadLetters(ctx, connect.DLQFilter{})
	require.ErrorIs(t, err, connect.ErrNoDeadLetterStream)
	require.ErrorContains(t, err, "CONNECT_DLQ")
}
