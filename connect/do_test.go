package connect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// TestDoEachKind runs one command of each kind of operation through the
// real worker and the sandbox: a packet write, a packet add whose data is
// the new id, a single write, a read whose rows decode into structs, and
// the plain-children operations of a service request; then the errors a
// caller branches on.
func TestDoEachKind(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	users := b.emu.SeedClientUsers(2)
	c := b.client(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("packet write", func(t *testing.T) {
		res, err := c.Do(ctx, ops.ClientUserEdit{
			ClientUserID: users[0], Name: "Анна", Password: "secret1", Phone: "+7 900 000-00-01", EMail: "anna@example.com",
			Birthday: connect.Set(time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)),
		}, connect.WithID("edit-1"))
		require.NoError(t, err)
		require.True(t, res.OK())
		require.Equal(t, "edit-1", res.ID)
		require.Equal(t, "ClientUserEdit", res.Op)
		require.NotEmpty(t, res.Batch)
		require.Equal(t, 1, res.Row)
		require.Equal(t, 1, res.Attempts)
		require.False(t, res.Recovered)
		u, ok := b.emu.Get("ClientUser", users[0])
		require.True(t, ok)
		require.Equal(t, "Анна", u.Fields["Name"].Text)
		require.Equal(t, "1990-05-17", u.Fields["Birthday"].Text)
	})
	t.Run("packet add", func(t *testing.T) {
		res, err := c.Do(ctx, ops.DepartmentAdd{Name: connect.Set("Support")})
		require.NoError(t, err)
		var added struct{ DepartmentID string }
		require.NoError(t, res.Decode(&added))
		require.Len(t, added.DepartmentID, 36)
		d, ok := b.emu.Get("Department", added.DepartmentID)
		require.True(t, ok)
		require.Equal(t, "Support", d.Fields["Name"].Text)
	})
	t.Run("single write", func(t *testing.T) {
		res, err := c.Do(ctx, ops.ClientUserSendWelcomeEmail{ClientUserID: users[1]})
		require.NoError(t, err)
		require.True(t, res.OK())
		require.Equal(t, 1, res.Rows)
	})
	t.Run("read", func(t *testing.T) {
		res, err := c.Do(ctx, ops.RegionRead{})
		require.NoError(t, err)
		var rows []struct{ RegionID, RegionName string }
		require.NoError(t, res.Decode(&rows))
		require.NotEmpty(t, rows)
		for _, r := range rows {
			require.Len(t, r.RegionID, 36)
			require.NotEmpty(t, r.RegionName)
		}
	})
	t.Run("plain children", func(t *testing.T) {
		res, err := c.Do(ctx, ops.ServiceRequestAdd{Summary: connect.Set("Cannot log in")})
		require.NoError(t, err)
		var req struct{ ServiceRequestID string }
		require.NoError(t, res.Decode(&req))
		require.NotEmpty(t, req.ServiceRequestID)
		res, err = c.Do(ctx, ops.ServiceRequestSendTextMessage{
			ServiceRequestID: req.ServiceRequestID, AuthorID: users[0], Message: "Hello",
		})
		require.NoError(t, err)
		var msg struct{ MessageID string }
		require.NoError(t, res.Decode(&msg))
		require.NotEmpty(t, msg.MessageID)
		res, err = c.Do(ctx, ops.ServiceRequestMessages{ServiceRequestID: req.ServiceRequestID})
		require.NoError(t, err)
		var list []map[string]any
		require.NoError(t, res.Decode(&list))
		require.Len(t, list, 1)
		require.Equal(t, "Hello", list[0]["Message"])
	})
	t.Run("service error", func(t *testing.T) {
		res, err := c.Do(ctx, ops.ClientUserEdit{
			ClientUserID: "00000000-0000-4000-8000-00000000ffff", Name: "Nobody", Password: "x", Phone: "1", EMail: "n@example.com",
		})
		require.True(t, errors.Is(err, connect.ErrService), "%v", err)
		var re *connect.ResultError
		require.True(t, errors.As(err, &re))
		require.Equal(t, "OBJECT_NOT_FOUND", re.Code)
		require.False(t, re.Local)
		require.Equal(t, re.Code, res.Code, "the result comes with its error")
	})
	t.Run("invalid fields refused locally", func(t *testing.T) {
		_, err := c.Do(ctx, ops.ClientUserEdit{ClientUserID: "42", Name: "a name longer than twenty", Password: "x"})
		require.True(t, errors.Is(err, connect.ErrInvalidFields), "%v", err)
		var re *connect.ResultError
		require.True(t, errors.As(err, &re))
		require.True(t, re.Local)
		require.Equal(t, []connect.FieldProblem{
			{Field: "ClientUserID", Problem: "not a UUID"},
			{Field: "EMail", Problem: "required"},
			{Field: "Name", Problem: "longer than 20 characters (got 25)"},
			{Field: "Phone", Problem: "required"},
		}, re.Fields)
	})
	t.Run("unknown operation refused locally", func(t *testing.T) {
		_, err := c.Do(ctx, connect.Raw{Op: "NoSuchOperation"})
		require.True(t, errors.Is(err, connect.ErrUnknownOperation), "%v", err)
	})
	t.Run("lookup", func(t *testing.T) {
		res, err := c.Lookup(ctx, "ClientUserEdit", "edit-1")
		require.NoError(t, err)
		require.True(t, res.Recovered)
		require.Equal(t, "edit-1", res.ID)
		_, err = c.Lookup(ctx, "ClientUserEdit", "never-sent")
		require.ErrorIs(t, err, connect.ErrNoResult)
	})
}

// TestDoMsgPack sends a command in msgpack and decodes its data.
func TestDoMsgPack(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.client(t, "", connect.WithFormat(connect.MsgPack))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Do(ctx, ops.DepartmentAdd{Name: connect.Set("Sales")})
	require.NoError(t, err)
	var added map[string]string
	require.NoError(t, res.Decode(&added))
	require.Len(t, added["DepartmentID"], 36)
}

// TestReplyPrefixRefusedByTheWorker: a client whose reply subjects the
// worker does not allow is told so by New, before any command is lost
// to an answer that never comes.
func TestReplyPrefixRefusedByTheWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	_, err := connect.New(b.nc, connect.WithReplyPrefix("billing.replies"))
	require.ErrorContains(t, err, "matches none of _INBOX.>, connect.reply.>")
	_, err = connect.New(b.nc, connect.WithReplyPrefix(contract.ResultPrefix+"x"), connect.WithReplyAllow("connect.>"))
	require.ErrorContains(t, err, "replies may not use", "the worker's own subjects are never reply subjects")
}
