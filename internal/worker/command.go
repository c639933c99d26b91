package worker

import (
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
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
	// poisoned is set for a command answered POISON: its payload was
	// never decoded.
	poisoned bool
	// cost is what the command counts against the byte budgets.
	cost int64
	// span is the command's trace span (see trace.go).
	span trace.Span
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
	// payload is the encoded result, made once by the finisher (fit);
	// fitted is set once it is.
	payload []byte
	fitted  bool
}

// decode reads the command in msg for operation op (cat nil when op is
// unknown). A command that cannot be processed comes back with its final
// result instead. Every byte of msg is the producer's and is checked
// before use: the delivery count first (a command delivered MaxDeliver
// times is answered POISON without its payload being read at all), then
// the payload (bounded decoding, see package contract), the reply subject
// (the reply policy) and the fields (the catalogue).
func (w *Worker) decode(msg jetstream.Msg, op string, cat *catalog.Operation, now time.Time) (e *entry, fn *final) {
	e = &entry{msg: msg, op: op, cat: cat, arrived: now, format: contract.JSON}
	delivered := uint64(1)
	if md, err := msg.Metadata(); err == nil {
		e.seq, e.pending, delivered = md.Sequence.Stream, md.NumPending, md.NumDelivered
	}
	h := msg.Headers()
	w.startCommand(e, h)
	if delivered >= uint64(w.cfg.MaxDeliver) {
		return e, w.poison(e, delivered, now)
	}
	defer func() {
		// Decoding is bounded and fuzzed; should it still panic on some
		// payload, that command fails, not the process.
		if r := recover(); r != nil {
			w.log.Error().Interface("panic", r).Str("op", op).Uint64("stream_seq", e.seq).Msg("decoding a command panicked")
			e.cmd = contract.Command{ID: headerID(h)}
			fn = e.fail(contract.CodeInvalidCommand, "the worker could not read this command", now, "decoding panicked")
		}
	}()
	cmd, format, err := contract.ReadCommand(h.Get(contract.HeaderContentType), msg.Data())
	e.format = format
	if err != nil {
		// Without an id the result can still reach the reply subject, and
		// the id of the Nats-Msg-Id header, if valid, says which command
		// it was.
		e.cmd.ID = headerID(h)
		fn = e.fail(contract.CodeInvalidCommand, err.Error(), now, "unreadable command")
		w.checkReply(e, h)
		return e, fn
	}
	e.cmd = cmd
	if refused := w.checkReply(e, h); refused != nil {
		return e, e.fail(contract.CodeReplyRefused, refused.Error(), now, "")
	}
	if cat == nil {
		return e, e.fail(contract.CodeUnknownOperation, "no operation "+boundText(op, maxOpToken)+" in the API", now, "unknown operation")
	}
	props, err := cat.FieldsWithin(cmd.Fields, w.limits)
	if err != nil {
		fn := e.fail(contract.CodeInvalidFields, err.Error(), now, "")
		var fes catalog.FieldErrors
		if errors.As(err, &fes) {
			for _, fe := range fes[:min(len(fes), maxFieldProblems)] {
				fn.result.Fields = append(fn.result.Fields, contract.FieldProblem{Field: boundText(fe.Field, maxFieldName), Problem: boundText(fe.Problem, maxErrorText)})
			}
		}
		return e, fn
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

// headerID is the command's Nats-Msg-Id when it is a valid id, "" otherwise.
func headerID(h nats.Header) string {
	id, _ := contract.HeaderID(h.Get(contract.HeaderMsgID))
	return id
}

// checkReply sets e's reply subject from the Connect-Reply-To header when
// the reply policy allows it; a refused one is never published to, and
// the error says why.
func (w *Worker) checkReply(e *entry, h nats.Header) error {
	to := h.Get(contract.HeaderReplyTo)
	if to == "" {
		return nil
	}
	if err := w.replies.Check(to); err != nil {
		w.log.Warn().Err(err).Str("op", e.op).Uint64("stream_seq", e.seq).Msg("reply subject refused")
		return err
	}
	e.replyTo = to
	return nil
}

// poison answers a command delivered MaxDeliver times, without reading its
// payload: whatever happened to its earlier deliveries (a worker killed
// while holding it, say), it is not tried again.
func (w *Worker) poison(e *entry, delivered uint64, now time.Time) *final {
	e.poisoned = true
	h := e.msg.Headers()
	e.cmd.ID = headerID(h)
	if f, declared := contract.DeclaredFormat(h.Get(contract.HeaderContentType)); declared {
		e.format = f
	}
	w.checkReply(e, h)
	w.log.Warn().Str("op", e.op).Uint64("stream_seq", e.seq).Uint64("delivered", delivered).Msg("command delivered too often: answered POISON")
	return e.fail(contract.CodePoison,
		fmt.Sprintf("delivered %d times without a result (the limit is %d); it is not tried again", delivered, w.cfg.MaxDeliver),
		now, "delivered too often")
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

// maxErrorText bounds a result's error text.
const maxErrorText = 4096

// fail makes e's final result with a worker code.
func (e *entry) fail(code, msg string, now time.Time, dlq string) *final {
	return &final{e: e, dlq: dlq, result: contract.Result{
		ID: e.cmd.ID, Op: boundText(e.op, maxOpToken), Code: code, Error: boundText(msg, maxErrorText), Attempts: e.calls, At: now.UTC(),
	}}
}

// maxFieldProblems and maxFieldName bound the structured field problems
// of an INVALID_FIELDS result: a command may name any number of fields,
// of any length.
const (
	maxFieldProblems = 64
	maxFieldName     = 128
)

// maxOpToken bounds the operation token of an unknown operation in the
// subjects and keys the worker writes.
const maxOpToken = 64

// opToken is the token a command's operation takes in the subjects and keys
// the worker writes (connect.result.<token>, its outcome key): the name of a
// known operation; for an unknown one, whose name comes from a subject a
// producer chose, the name when it is short and plain, else "_invalid", so
// that no subject or key the worker writes can grow past the server's
// limits.
func opToken(op string, known bool) string {
	if known {
		return op
	}
	if op == "" || len(op) > maxOpToken {
		return "_invalid"
	}
	for i := 0; i < len(op); i++ {
		c := op[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "_invalid"
		}
	}
	return op
}

// subjectToken is opToken of e's operation.
func (w *Worker) subjectToken(e *entry) string { return opToken(e.op, e.cat != nil) }

// boundText cuts s to at most n bytes, on a character boundary, marking the
// cut: error texts built from a producer's input (a list of ten thousand
// unknown fields, say) must not outgrow a result or a header.
func boundText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + mark
}
