package connect

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Dead letters: the commands the worker could not process, copied to its
// dead-letter stream (CONNECT_DLQ, subjects connect.dlq.<Operation>) with
// the original payload (secret fields redacted), the original headers and
// the worker's Connect-Dlq-* headers. This file reads and deletes them;
// dlq_replay.go sends them again.
//
// These are the operator's tools. The stream holds the commands of every
// producer, so only the admin user reads it: in deploy/k8s/nats-values.yaml
// connect-admin has every right of the account CONNECT (reading the stream
// takes $JS.API.STREAM.INFO, CONSUMER.CREATE and CONSUMER.MSG.NEXT and
// STREAM.MSG.GET on CONNECT_DLQ; deleting takes STREAM.MSG.DELETE or
// STREAM.PURGE), the worker may only write it (its purge and delete are
// denied), and the producers' accounts do not see it. A replay is a
// command like any other: the admin's client should name reply subjects
// the worker may publish to there (WithReplyPrefix("connect.reply.admin")),
// or its results come from the outcome bucket after the reply timeout.

// Errors of the dead-letter tools, for errors.Is.
var (
	// ErrNoDeadLetterStream: the stream does not exist (no worker has
	// started on this NATS).
	ErrNoDeadLetterStream = errors.New("connect: no dead-letter stream")
	// ErrDeadLetterNotFound: no dead letter has the sequence asked for.
	ErrDeadLetterNotFound = errors.New("connect: no such dead letter")
	// ErrReplayNeedsForce: the dead letter's command may have reached the
	// service already (UNKNOWN_OUTCOME, POISON) and its operation is not
	// safe to send twice (an …Add may have created the object): replay it
	// only WithForce, having checked the service.
	ErrReplayNeedsForce = errors.New("connect: replay needs force")
	// ErrReplayRedacted: fields of the dead letter were redacted (a
	// Password); the stored command is not the one that was sent. Give
	// their values with ReplayWithFields.
	ErrReplayRedacted = errors.New("connect: dead letter has redacted fields")
	// ErrReplayUnreadable: the dead letter's command cannot be sent again
	// as stored: its payload was cut or left out to fit, could not be
	// read, or names no operation of the API.
	ErrReplayUnreadable = errors.New("connect: dead letter cannot be replayed as stored")
)

// DLQFilter selects dead letters; zero fields select all.
type DLQFilter struct {
	// Op selects one operation's dead letters (the subject's last token).
	Op string
	// Code selects one result code (TRANSPORT_ERROR…).
	Code string
	// ID selects the dead letters of one command id.
	ID string
	// After selects the dead letters stored after this stream sequence,
	// to page through a long list: the last one's Seq.
	After uint64
	// Limit is the most dead letters DeadLetters returns, or
	// PurgeDeadLetters deletes. Zero means 100 for DeadLetters, at most
	// MaxDeadLetters; every match for PurgeDeadLetters.
	Limit int
}

// Bounds of one DeadLetters call.
const (
	// MaxDeadLetters is the most dead letters one DeadLetters call returns.
	MaxDeadLetters = 10000
	// defaultDeadLetters is DeadLetters' limit when the filter has none.
	defaultDeadLetters = 100
	// maxDeadLetterBytes bounds the bytes of the dead letters one call
	// holds (each is up to the server's max payload): the list stops
	// before the one that would pass it, so a shorter list than asked is
	// not the end; page on with After.
	maxDeadLetterBytes = 64 << 20
	// maxOpToken is the longest operation token of a dead letter's
	// subject the worker writes (longer names go to _invalid).
	maxOpToken = 64
)

// check refuses a filter that names no operation token, no code or no
// id: an Op with a dot or a wildcard would widen the subject filter.
func (f DLQFilter) check() error {
	if f.Op != "" && !opTokenOK(f.Op) {
		return fmt.Errorf("connect: dead letters: operation %q: want letters, digits, '_' and '-', up to %d", f.Op, maxOpToken)
	}
	if len(f.Code) > maxOpToken {
		return fmt.Errorf("connect: dead letters: code of %d bytes: want at most %d", len(f.Code), maxOpToken)
	}
	if f.ID != "" {
		if err := contract.ValidID(f.ID); err != nil {
			return fmt.Errorf("connect: dead letters: %w", err)
		}
	}
	if f.Limit < 0 {
		return fmt.Errorf("connect: dead letters: limit %d: want 0 or more", f.Limit)
	}
	return nil
}

// opTokenOK reports whether s is a subject token the worker makes of an
// operation name.
func opTokenOK(s string) bool {
	if s == "" || len(s) > maxOpToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// DeadLetter is one command of the dead-letter stream, as stored.
type DeadLetter struct {
	// Seq is the dead letter's sequence in the stream: it names it for
	// DeadLetter, DeleteDeadLetter and the id of its replay.
	Seq uint64 `json:"seq"`
	// Op is the operation (the subject's last token; "_invalid" for a
	// subject that named none).
	Op string `json:"op"`
	// ID is the command's id ("" when it had none that was valid).
	ID string `json:"id"`
	// Code is the command's result code and Reason why it was put here,
	// as the worker wrote them (Connect-Dlq-Code, Connect-Dlq-Reason).
	Code   string `json:"code"`
	Reason string `json:"reason"`
	// Subject is the command's original subject (Connect-Dlq-Subject).
	Subject string `json:"subject,omitempty"`
	// Time is when the dead letter was stored, UTC.
	Time time.Time `json:"time"`
	// Fields are the command's fields as stored, secrets redacted (their
	// value is "[redacted]"); nil when the payload could not be read
	// (Unreadable says why).
	Fields map[string]any `json:"fields,omitempty"`
	// Redacted names the fields whose value is the redaction mark, sorted.
	Redacted []string `json:"redacted,omitempty"`
	// Format is the command's payload format.
	Format Format `json:"-"`
	// Unreadable says why the payload could not be read as a command: it
	// was cut or left out to fit a message (Truncated), or is not one.
	Unreadable string `json:"unreadable,omitempty"`
	// Truncated is the worker's Connect-Dlq-Truncated: how the payload
	// was cut, or that it was left out.
	Truncated string `json:"truncated,omitempty"`
	// ReplayOf is set when the command was itself a replay: the id of the
	// command first replayed.
	ReplayOf string `json:"replay_of,omitempty"`
	// Header is every header of the dead letter: the command's own (but
	// its Nats-Msg-Id, which the dead letter's replaces) and the worker's.
	Header nats.Header `json:"headers,omitempty"`
	// Payload is the payload as stored, secrets redacted.
	Payload []byte `json:"-"`
}

// deadStream returns the dead-letter stream and its state now.
func (c *Client) deadStream(ctx context.Context) (jetstream.Stream, *jetstream.StreamInfo, error) {
	s, err := c.js.Stream(ctx, c.cfg.dlqStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil, fmt.Errorf("%w %s on this NATS (the worker creates it at start)", ErrNoDeadLetterStream, c.cfg.dlqStream)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("connect: dead-letter stream %s: %w", c.cfg.dlqStream, err)
	}
	return s, s.CachedInfo(), nil
}

// head is what the scan reads of a dead letter: its headers alone.
type head struct {
	seq      uint64
	op, id   string
	code     string
	size     int // the payload's bytes, from Nats-Msg-Size
	lastSeen bool
}

// scanBatch and scanBatchBytes bound one fetch of the scan.
const (
	scanBatch      = 512
	scanBatchBytes = 8 << 20
	scanWait       = 5 * time.Second
)

// scan calls fn with the headers of each dead letter that passes f (but
// its Limit), in sequence order, up to the stream's last message when
// the scan began, until fn returns false. It reads headers only, with a
// consumer of its own that it deletes when done.
func (c *Client) scan(ctx context.Context, f DLQFilter, fn func(head) (bool, error)) (last uint64, err error) {
	s, info, err := c.deadStream(ctx)
	if err != nil {
		return 0, err
	}
	last = info.State.LastSeq
	if info.State.Msgs == 0 || last <= f.After {
		return last, nil
	}
	subject := c.cfg.dlqPrefix + ">"
	if f.Op != "" {
		subject = c.cfg.dlqPrefix + f.Op
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    max(f.After+1, info.State.FirstSeq),
		HeadersOnly:    true,
		// Left behind by a client that died: the server removes it.
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return last, fmt.Errorf("connect: read dead letters: %w", err)
	}
	ci := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.publishTimeout)
		defer cancel()
		_ = s.DeleteConsumer(dctx, ci.Name) // else gone after its inactive threshold
	}()
	// Each fetch asks for no more than are pending, so that it ends
	// with its last message rather than waiting out its expiry.
	pending := ci.NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, scanBatch)), jetstream.FetchMaxBytes(scanBatchBytes), jetstream.FetchMaxWait(scanWait))
		if err != nil {
			return last, fmt.Errorf("connect: read dead letters: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return last, fmt.Errorf("connect: read dead letters: %w", err)
			}
			pending = md.NumPending
			h := readHead(c.cfg.dlqPrefix, m.Subject(), m.Headers(), md.Sequence.Stream)
			h.lastSeen = md.NumPending == 0 || md.Sequence.Stream >= last
			if md.Sequence.Stream > last {
				return last, nil // stored after the scan began
			}
			if (f.Code == "" || h.code == f.Code) && (f.ID == "" || h.id == f.ID) {
				more, err := fn(h)
				if err != nil || !more {
					return last, err
				}
			}
			if h.lastSeen {
				return last, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return last, fmt.Errorf("connect: read dead letters: %w", err)
		}
		if n == 0 {
			if ctx.Err() != nil {
				return last, fmt.Errorf("connect: read dead letters: %w", ctx.Err())
			}
			return last, nil // nothing more came within the wait (deleted meanwhile)
		}
	}
	return last, nil
}

// readHead reads what the worker's headers say of a dead letter.
func readHead(prefix, subject string, h nats.Header, seq uint64) head {
	hd := head{seq: seq, op: strings.TrimPrefix(subject, prefix), code: h.Get(contract.HeaderDLQCode)}
	hd.id = idFromMsgID(hd.op, h.Get(contract.HeaderMsgID))
	if n, ok := parseSize(h.Get("Nats-Msg-Size")); ok {
		hd.size = n
	}
	return hd
}

// idFromMsgID reads the command's id from the dead letter's Nats-Msg-Id,
// which the worker writes as "dlq.<op>.<id in base64url>.<batch>.<seq>";
// "" when it is not of that form or the id is not valid.
func idFromMsgID(op, msgID string) string {
	rest, ok := strings.CutPrefix(msgID, "dlq."+op+".")
	if !ok {
		return ""
	}
	enc, _, _ := strings.Cut(rest, ".")
	if len(enc) > base64.RawURLEncoding.EncodedLen(contract.MaxIDLength) {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || contract.ValidID(string(b)) != nil {
		return ""
	}
	return string(b)
}

// parseSize reads a decimal byte count of at most 9 digits.
func parseSize(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// DeadLetters returns the dead letters that pass f, oldest first: at most
// f.Limit (100 by default, MaxDeadLetters at most), and fewer when their
// payloads pass 64 MiB in all (page on with After set to the last one's
// Seq; an empty list is the end). The stream is read from its state when
// the call began.
func (c *Client) DeadLetters(ctx context.Context, f DLQFilter) ([]DeadLetter, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	limit := min(cmp.Or(f.Limit, defaultDeadLetters), MaxDeadLetters)
	var seqs []uint64
	total := 0
	_, err := c.scan(ctx, f, func(h head) (bool, error) {
		if len(seqs) > 0 && total+h.size > maxDeadLetterBytes {
			return false, nil
		}
		seqs, total = append(seqs, h.seq), total+h.size
		return len(seqs) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(seqs))
	for _, seq := range seqs {
		dl, err := c.DeadLetter(ctx, seq)
		if errors.Is(err, ErrDeadLetterNotFound) {
			continue // deleted since the scan
		}
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, nil
}

// DeadLetter returns the dead letter stored at seq; ErrDeadLetterNotFound
// when there is none (or the message there is not a dead letter).
func (c *Client) DeadLetter(ctx context.Context, seq uint64) (DeadLetter, error) {
	s, _, err := c.deadStream(ctx)
	if err != nil {
		return DeadLetter{}, err
	}
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w at sequence %d", ErrDeadLetterNotFound, seq)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("connect: read dead letter %d: %w", seq, err)
	}
	if !strings.HasPrefix(raw.Subject, c.cfg.dlqPrefix) {
		return DeadLetter{}, fmt.Errorf("%w at sequence %d (its subject is not under %s)", ErrDeadLetterNotFound, seq, c.cfg.dlqPrefix)
	}
	return readDeadLetter(c.cfg.dlqPrefix, raw), nil
}

// readDeadLetter reads a stored dead letter. Its payload is read as the
// worker reads a command (contract.ReadCommand: bounded, refusing what is
// not one); a payload that was cut is not read at all.
func readDeadLetter(prefix string, raw *jetstream.RawStreamMsg) DeadLetter {
	h := raw.Header
	hd := readHead(prefix, raw.Subject, h, raw.Sequence)
	dl := DeadLetter{
		Seq: raw.Sequence, Op: hd.op, ID: hd.id, Code: hd.code,
		Reason:    h.Get(contract.HeaderDLQReason),
		Subject:   h.Get(contract.HeaderDLQSubject),
		Time:      raw.Time.UTC(),
		Truncated: h.Get(contract.HeaderDLQTruncated),
		Header:    h,
		Payload:   raw.Data,
	}
	switch cmd, f, err := contract.ReadCommand(h.Get(contract.HeaderContentType), raw.Data); {
	case dl.Truncated != "":
		dl.Unreadable = "the worker cut it to fit a message (" + dl.Truncated + ")"
	case err != nil:
		dl.Unreadable = err.Error()
	default:
		dl.Fields = cmd.Fields
		if dl.Fields == nil {
			dl.Fields = map[string]any{}
		}
		dl.ID = cmd.ID
		if f == contract.MsgPack {
			dl.Format = MsgPack
		}
		for k, v := range cmd.Fields {
			if v == contract.Redacted {
				dl.Redacted = append(dl.Redacted, k)
			}
		}
		slices.Sort(dl.Redacted)
	}
	dl.ReplayOf = replayRoot(dl.ID, h.Get(HeaderReplayOf), h.Get(HeaderReplaySeq))
	return dl
}

// DeleteDeadLetter deletes the dead letter stored at seq.
func (c *Client) DeleteDeadLetter(ctx context.Context, seq uint64) error {
	s, _, err := c.deadStream(ctx)
	if err != nil {
		return err
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			return fmt.Errorf("%w at sequence %d", ErrDeadLetterNotFound, seq)
		}
		return fmt.Errorf("connect: delete dead letter %d: %w", seq, err)
	}
	return nil
}

// PurgeDeadLetters deletes the dead letters that pass f (at most f.Limit
// when set) and returns how many it deleted. Dead letters stored after
// the call began are kept. With only Op set, or nothing, it is one purge
// of the subject up to the last sequence seen; otherwise one delete per
// dead letter.
func (c *Client) PurgeDeadLetters(ctx context.Context, f DLQFilter) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	whole := f.Code == "" && f.ID == "" && f.After == 0 && f.Limit == 0
	var seqs []uint64
	count := 0
	last, err := c.scan(ctx, f, func(h head) (bool, error) {
		count++
		if !whole {
			seqs = append(seqs, h.seq)
		}
		return f.Limit == 0 || count < f.Limit, nil
	})
	if err != nil || count == 0 {
		return 0, err
	}
	if whole {
		s, _, err := c.deadStream(ctx)
		if err != nil {
			return 0, err
		}
		subject := c.cfg.dlqPrefix + ">"
		if f.Op != "" {
			subject = c.cfg.dlqPrefix + f.Op
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(last+1)); err != nil {
			return 0, fmt.Errorf("connect: purge dead letters %s: %w", subject, err)
		}
		return count, nil
	}
	deleted := 0
	for _, seq := range seqs {
		err := c.DeleteDeadLetter(ctx, seq)
		switch {
		case err == nil:
			deleted++
		case !errors.Is(err, ErrDeadLetterNotFound):
			return deleted, err
		}
	}
	return deleted, nil
}
