package connect

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Validate checks a command as the worker will, without publishing it:
// nil, or a *ResultError with Local set and the code the worker would
// give (INVALID_FIELDS with every bad field, UNKNOWN_OPERATION,
// INVALID_COMMAND). It checks the fields even when the client was made
// WithoutValidation.
func (c *Client) Validate(op Operation, opts ...CommandOption) error {
	cc := commandConfig{id: "validate"}
	for _, o := range opts {
		if err := o(&cc); err != nil {
			return err
		}
	}
	_, err := c.encode(Command{ID: cc.id, Op: op}, true)
	return err
}

// message encodes cmd and makes its message, headers set but the reply
// subject.
func (c *Client) message(ctx context.Context, cmd Command) (*nats.Msg, error) {
	payload, err := c.encode(cmd, c.cfg.validate)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(c.cfg.commandPrefix + cmd.Op.OperationName())
	m.Data = payload
	if c.cfg.headers != nil {
		c.cfg.headers(ctx, m.Header)
	}
	m.Header.Set(contract.HeaderMsgID, cmd.ID)
	ct := contract.ContentTypeJSON
	if c.cfg.format == MsgPack {
		ct = contract.ContentTypeMsgPack
	}
	m.Header.Set(contract.HeaderContentType, ct)
	return m, nil
}

// encode writes cmd's payload and checks it with the worker's own rules:
// the payload is read back as the worker reads it (contract.ReadCommand:
// the id rule, the depth and size bounds) and, with fields set, its
// fields go through the catalogue (catalog.FieldsWithin, with the
// worker's default limits and object references accepted when well
// formed). So a verdict here is the worker's verdict on the same bytes.
func (c *Client) encode(cmd Command, fields bool) ([]byte, error) {
	name := cmd.Op.OperationName()
	local := func(code, msg string) *ResultError {
		return &ResultError{ID: cmd.ID, Op: name, Code: code, Message: msg, Local: true}
	}
	if err := contract.ValidID(cmd.ID); err != nil {
		return nil, local(contract.CodeInvalidCommand, err.Error())
	}
	cat, known := catalog.Lookup(name)
	switch {
	case name == "" || strings.ContainsAny(name, ".*> \t\r\n"):
		return nil, local(contract.CodeUnknownOperation, fmt.Sprintf("operation %q is not a subject token", name))
	case !known && !c.cfg.unknownOps:
		return nil, local(contract.CodeUnknownOperation, fmt.Sprintf("no operation %q in the API", name))
	}
	fs, err := cmd.Op.CommandFields()
	if err != nil {
		return nil, local(contract.CodeInvalidFields, err.Error())
	}
	f, ct := contract.JSON, contract.ContentTypeJSON
	if c.cfg.format == MsgPack {
		f, ct = contract.MsgPack, contract.ContentTypeMsgPack
	}
	payload, err := contract.EncodeCommand(f, contract.Command{ID: cmd.ID, Fields: fs})
	if err != nil {
		return nil, local(contract.CodeInvalidCommand, "encode: "+err.Error())
	}
	if len(payload) > c.cfg.maxCommand {
		return nil, local(contract.CodeInvalidCommand, fmt.Sprintf("the command is %d bytes, more than the %d a command may be", len(payload), c.cfg.maxCommand))
	}
	decoded, _, err := contract.ReadCommand(ct, payload)
	if err != nil {
		return nil, local(contract.CodeInvalidCommand, err.Error())
	}
	if !fields || !known {
		return payload, nil // an unknown operation's fields are the worker's to check
	}
	lim := catalog.FieldLimits{MaxUnknownBytes: c.cfg.maxFieldBytes, Objects: objectRef}
	if _, err := cat.FieldsWithin(decoded.Fields, lim); err != nil {
		e := local(contract.CodeInvalidFields, err.Error())
		if es, ok := err.(catalog.FieldErrors); ok {
			e.Fields = fieldProblems(es)
		}
		return nil, e
	}
	return payload, nil
}

// objectRef accepts a well-formed reference to a stored object where the
// catalogue takes one, as the worker does; whether the object exists is
// the worker's to check.
func objectRef(v any) (soap.Value, string, bool) {
	_, ok, err := files.ParseRef(v)
	switch {
	case !ok:
		return soap.Value{}, "", false
	case err != nil:
		return soap.Value{}, err.Error(), true
	}
	return soap.Null(), "", true
}
