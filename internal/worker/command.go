package worker

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// entry is one command the worker holds, from delivery to acknowledgement.
type entry struct {
	msg     jetstream.Msg
	seq     uint64 // stream sequence, the entry's identity while held
	pending uint64 // commands the stream held behind this one when it came
	op      string
	cat     *catalog.Operation // nil for an unknown operation
	format  contract.Format
	replyTo string
	cmd     contract.Command
	props   []soap.Property // the typed fields, in catalogue order
	key     string          // the object's key, "" when unordered
	shape   string          // the field names, comma-joined
	arrived time.Time

	// outcomeRev is the revision of the command's record in the outcome
	// bucket as this worker last wrote or read it (0: none); outcome
	// writes are conditional on it.
	outcomeRev uint64

	calls    int // API calls that carried the command
	failures int // failed calls that count towards MaxAttempts
	// finishing is set once the final result is decided: the command is
	// with the finisher, no longer in the batcher or a call.
	finishing bool
}

// final is an entry's final result, ready to record and publish.
type final struct {
	e      *entry
	result contract.Result
	// replay is set when the result was read back from the outcome
	// bucket: it is published again, not recorded again.
	replay bool
	// dlq, when not empty, is why the command also goes to the dead-letter
	// stream.
	dlq string
	// payload is the encoded result, made once by the finisher.
	payload []byte
}

// decode reads the command in msg for operation op (cat nil when op is
// unknown). A command that cannot be processed comes back with its final
// result instead.
func decode(msg jetstream.Msg, op string, cat *catalog.Operation, now time.Time) (*entry, *final) {
	e := &entry{msg: msg, op: op, cat: cat, arrived: now}
	if md, err := msg.Metadata(); err == nil {
		e.seq, e.pending = md.Sequence.Stream, md.NumPending
	}
	h := msg.Headers()
	e.format = contract.Sniff(h.Get(contract.HeaderContentType), msg.Data())
	e.replyTo = h.Get(contract.HeaderReplyTo)
	cmd, err := contract.DecodeCommand(e.format, msg.Data())
	if err != nil {
		// Without an id the result can still reach the reply subject, and
		// the id of the Nats-Msg-Id header, if any, says which command it was.
		e.cmd.ID = h.Get(contract.HeaderMsgID)
		return e, e.fail(contract.CodeInvalidCommand, err.Error(), now, "unreadable command")
	}
	e.cmd = cmd
	if cat == nil {
		return e, e.fail(contract.CodeUnknownOperation, "no operation "+op+" in the API", now, "unknown operation")
	}
	props, err := cat.Fields(cmd.Fields)
	if err != nil {
		return e, e.fail(contract.CodeInvalidFields, err.Error(), now, "")
	}
	e.props = props
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p.Name
	}
	e.shape = strings.Join(names, ",")
	e.key = objectKey(cat, props)
	return e, nil
}

// objectKey joins the values of the operation's key fields; "" when the
// operation has none.
func objectKey(cat *catalog.Operation, props []soap.Property) string {
	if len(cat.Key) == 0 {
		return ""
	}
	var b strings.Builder
	for i, k := range cat.Key {
		if i > 0 {
			b.WriteByte(0)
		}
		for _, p := range props {
			if p.Name == k {
				b.WriteString(p.Value.Text)
				break
			}
		}
	}
	return b.String()
}

// fail makes e's final result with a worker code.
func (e *entry) fail(code, msg string, now time.Time, dlq string) *final {
	return &final{e: e, dlq: dlq, result: contract.Result{
		ID: e.cmd.ID, Op: e.op, Code: code, Error: msg, Attempts: e.calls, At: now.UTC(),
	}}
}
