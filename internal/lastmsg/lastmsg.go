// Package lastmsg reads the last message of many subjects of a stream in
// one request: a JetStream direct get with multi_last, as a key-value
// bucket's latest values of many keys. Subjects without a message cost
// nothing in the answer.
//
// Invariant: one call sends one request per MaxSubjects subjects and
// waits at most its context (and Timeout) for each answer; what it
// returns is keyed by the subjects asked for only.
package lastmsg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// MaxSubjects is the most subjects one request asks for; the server
// answers at most 1024.
const MaxSubjects = 256

// Timeout bounds the wait for one answer when the context has no
// earlier deadline.
const Timeout = 5 * time.Second

// Msg is the last message of one subject.
type Msg struct {
	Data []byte
	// Seq is the message's stream sequence: a key's revision.
	Seq uint64
	// Deleted is set for a key-value delete or purge marker.
	Deleted bool
}

// Get reads the last message of each subject of stream (which must allow
// direct gets, as key-value buckets do). The result has the subjects
// that have one.
func Get(ctx context.Context, nc *nats.Conn, stream string, subjects []string) (map[string]Msg, error) {
	out := make(map[string]Msg, len(subjects))
	for lo := 0; lo < len(subjects); lo += MaxSubjects {
		hi := min(lo+MaxSubjects, len(subjects))
		if err := get(ctx, nc, stream, subjects[lo:hi], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func get(ctx context.Context, nc *nats.Conn, stream string, subjects []string, out map[string]Msg) error {
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
		Batch     int      `json:"batch"`
	}{subjects, len(subjects)})
	if err != nil {
		return err
	}
	asked := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		asked[s] = true
	}
	inbox := nc.NewInbox()
	// A channel sized for one answer (a message per subject and the
	// end-of-batch status), not the client's default of 64K messages.
	answers := make(chan *nats.Msg, len(subjects)+2)
	sub, err := nc.ChanSubscribe(inbox, answers)
	if err != nil {
		return fmt.Errorf("lastmsg: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, req); err != nil {
		return fmt.Errorf("lastmsg: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	for {
		var m *nats.Msg
		select {
		case m = <-answers:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("lastmsg: no answer from %s within the deadline", stream)
			}
			return fmt.Errorf("lastmsg: %w", ctx.Err())
		}
		if len(m.Data) == 0 && m.Header != nil && m.Header.Get("Status") != "" {
			switch m.Header.Get("Status") {
			case "204", "404": // end of the batch; none of the subjects has a message
				return nil
			case "503":
				return fmt.Errorf("lastmsg: %w", nats.ErrNoResponders)
			default:
				return fmt.Errorf("lastmsg: status %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
			}
		}
		subject := m.Header.Get("Nats-Subject")
		if !asked[subject] {
			continue
		}
		seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		op := m.Header.Get("KV-Operation")
		out[subject] = Msg{Data: m.Data, Seq: seq, Deleted: op == "DEL" || op == "PURGE"}
	}
}
