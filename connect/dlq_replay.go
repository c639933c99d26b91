package connect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Replaying a dead letter: its fields sent again as a new command.
//
// The replay's id is "<original id>-replay-<dead letter's sequence>"
// (the original id cut, on a character boundary, when the whole would
// pass 256 bytes), so that the result names the original, and replaying
// one dead letter twice sends one command: the second is answered from
// the first's outcome. A replay that fails in its turn is dead-lettered
// with the headers below; replaying that one names the first original
// again, "<original id>-replay-<its sequence>", never a growing chain.

// Headers a replay carries, which its own dead letter keeps.
const (
	// HeaderReplayOf is the id of the command first replayed.
	HeaderReplayOf = "Connect-Replay-Of"
	// HeaderReplaySeq is the sequence of the dead letter replayed.
	HeaderReplaySeq = "Connect-Replay-Seq"
)

// ReplayOption configures one replay.
type ReplayOption func(*replayConfig) error

type replayConfig struct {
	force  bool
	fields map[string]any
}

// WithForce replays a dead letter whose command may have reached the
// service already (UNKNOWN_OUTCOME, POISON) although its operation is
// not safe to send twice: an …Add may then create its object a second
// time. Check the service first.
func WithForce() ReplayOption {
	return func(c *replayConfig) error {
		c.force = true
		return nil
	}
}

// ReplayWithFields sets fields of the replay, over the stored ones: the
// values of redacted fields (a Password), which the dead letter does not
// keep, or corrections. A nil value sends a null.
func ReplayWithFields(fields map[string]any) ReplayOption {
	return func(c *replayConfig) error {
		for k := range fields {
			if k == "" {
				return errors.New("connect: ReplayWithFields: a field without a name")
			}
		}
		if c.fields == nil {
			c.fields = map[string]any{}
		}
		maps.Copy(c.fields, fields)
		return nil
	}
}

// ReplayError is a dead letter the client refuses to replay, with why.
// errors.Is matches its Err: ErrReplayNeedsForce, ErrReplayRedacted or
// ErrReplayUnreadable.
type ReplayError struct {
	// Seq, Op, ID and Code name the dead letter.
	Seq          uint64
	Op, ID, Code string
	// Err is the sentinel of the refusal.
	Err error
	// Why explains it, naming fields but never their values.
	Why string
	// Fields are the redacted fields still without a value, for
	// ErrReplayRedacted.
	Fields []string
}

// Error returns "connect: replay dead letter <seq> (<Op> <ID>, <Code>): <Why>".
func (e *ReplayError) Error() string {
	return fmt.Sprintf("connect: replay dead letter %d (%s %s, %s): %s", e.Seq, e.Op, e.ID, e.Code, e.Why)
}

// Unwrap returns Err.
func (e *ReplayError) Unwrap() error { return e.Err }

// ReplayID returns the id a replay of dl is sent with.
func ReplayID(dl DeadLetter) string {
	suffix := "-replay-" + strconv.FormatUint(dl.Seq, 10)
	root := cmp.Or(dl.ReplayOf, dl.ID)
	if root == "" {
		return "dlq" + suffix
	}
	if room := contract.MaxIDLength - len(suffix); len(root) > room {
		for room > 0 && !utf8.RuneStart(root[room]) {
			room--
		}
		root = root[:room]
	}
	return root + suffix
}

// replayRoot is the original id a dead letter of a replay names: the
// Connect-Replay-Of header, trusted only when the command's id is the
// replay id made from it and the sequence header (a producer may set
// any header on its commands, and a forged one must not make a replay's
// id collide with another command's). "" otherwise.
func replayRoot(id, of, seq string) string {
	if of == "" || contract.ValidID(of) != nil {
		return ""
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return ""
	}
	if ReplayID(DeadLetter{ID: of, Seq: n}) != id {
		return ""
	}
	return of
}

// Replay sends the dead letter's command again as a new command (its id
// ReplayID(dl), its fields those stored, over which ReplayWithFields
// sets its own) and waits for its result, as Do does. It refuses, with a
// *ReplayError and sending nothing, a dead letter whose payload cannot
// be read (ErrReplayUnreadable), one with redacted fields not given
// (ErrReplayRedacted), and, unless WithForce, one whose command may have
// reached the service and is not safe to send twice
// (ErrReplayNeedsForce). The dead letter stays in the stream; delete it
// with DeleteDeadLetter once the replay succeeded.
func (c *Client) Replay(ctx context.Context, dl DeadLetter, opts ...ReplayOption) (Result, error) {
	p, err := c.SubmitReplay(ctx, dl, opts...)
	if err != nil {
		return Result{}, err
	}
	return p.waitOrForget(ctx)
}

// SubmitReplay publishes the replay of dl, as Replay does, and returns
// once the stream has stored it; Pending.Wait gives its result.
func (c *Client) SubmitReplay(ctx context.Context, dl DeadLetter, opts ...ReplayOption) (*Pending, error) {
	var rc replayConfig
	for _, o := range opts {
		if err := o(&rc); err != nil {
			return nil, err
		}
	}
	fields, err := replayFields(dl, rc)
	if err != nil {
		return nil, err
	}
	cmd := Command{ID: ReplayID(dl), Op: Raw{Op: dl.Op, Fields: fields}}
	// In the dead letter's format, whatever the client's: a msgpack
	// command's binary and timestamp values have no JSON form that the
	// catalogue reads alike. enc only encodes; it holds no state.
	enc := &Client{cfg: c.cfg}
	enc.cfg.format = dl.Format
	msg, err := enc.message(ctx, cmd)
	if err != nil {
		return nil, err
	}
	msg.Header.Set(HeaderReplayOf, cmp.Or(dl.ReplayOf, dl.ID))
	msg.Header.Set(HeaderReplaySeq, strconv.FormatUint(dl.Seq, 10))
	if msg.Header.Get(HeaderReplayOf) == "" {
		msg.Header.Del(HeaderReplayOf)
	}
	p, err := c.register(cmd.ID, dl.Op, nil)
	if err != nil {
		return nil, err
	}
	msg.Header.Set(contract.HeaderReplyTo, c.base+"."+p.token)
	if err := c.publish(ctx, msg, p); err != nil {
		p.forget()
		return nil, err
	}
	return p, nil
}

// replayFields checks that dl may be replayed as rc says and returns the
// fields to send.
func replayFields(dl DeadLetter, rc replayConfig) (map[string]any, error) {
	refuse := func(sentinel error, why string) *ReplayError {
		return &ReplayError{Seq: dl.Seq, Op: dl.Op, ID: dl.ID, Code: dl.Code, Err: sentinel, Why: why}
	}
	op, ok := catalog.Lookup(dl.Op)
	switch {
	case !ok:
		return nil, refuse(ErrReplayUnreadable, fmt.Sprintf("no operation %q in the API", dl.Op))
	case dl.Fields == nil:
		why := "its payload cannot be read"
		if dl.Unreadable != "" {
			why += ": " + dl.Unreadable
		}
		return nil, refuse(ErrReplayUnreadable, why)
	}
	if !rc.force && !op.Repeatable && (dl.Code == contract.CodeUnknownOutcome || dl.Code == contract.CodePoison) {
		why := "the command may have been processed (the call was cut after it was sent)"
		if dl.Code == contract.CodePoison {
			why = "the command may have been processed (workers died holding it)"
		}
		return nil, refuse(ErrReplayNeedsForce, fmt.Sprintf("%s, and %s is not safe to send twice: it may have created its object already; check the service, then replay with force", why, dl.Op))
	}
	fields := maps.Clone(dl.Fields)
	maps.Copy(fields, rc.fields)
	var redacted []string
	for k, v := range fields {
		if v == contract.Redacted {
			redacted = append(redacted, k)
		}
	}
	if len(redacted) > 0 {
		slices.Sort(redacted)
		e := refuse(ErrReplayRedacted, fmt.Sprintf("the dead letter keeps no value of %s (redacted); give %s with the replay's fields",
			strings.Join(redacted, ", "), plural(len(redacted), "it", "them")))
		e.Fields = redacted
		return nil, e
	}
	return fields, nil
}

// plural returns one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
