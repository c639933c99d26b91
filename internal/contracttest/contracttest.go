// Package contracttest is what tests do as a producer of commands would:
// publish commands in the contract's form, and gather their results from
// a reply subject. Real NATS only (see natstest).
package contracttest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Results gathers the results published to one subject, by command id.
type Results struct {
	mu      sync.Mutex // protects byID
	byID    map[string][]contract.Result
	arrived chan struct{}
}

// Collect subscribes to subject and gathers what arrives until the test
// ends. A payload that is not a result fails the test.
func Collect(t testing.TB, nc *nats.Conn, subject string) *Results {
	t.Helper()
	r := &Results{byID: map[string][]contract.Result{}, arrived: make(chan struct{}, 1)}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		res, err := contract.DecodeResult(m.Data)
		if err != nil {
			t.Errorf("contracttest: undecodable result: %v", err)
			return
		}
		r.mu.Lock()
		r.byID[res.ID] = append(r.byID[res.ID], res)
		r.mu.Unlock()
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err != nil {
		t.Fatalf("contracttest: subscribe %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return r
}

// Count returns how many distinct ids have a result.
func (r *Results) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// Get returns a copy of the results by id.
func (r *Results) Get() map[string][]contract.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]contract.Result, len(r.byID))
	for k, v := range r.byID {
		out[k] = append([]contract.Result(nil), v...)
	}
	return out
}

// Wait waits until n distinct ids have results, at most d, and returns
// them.
func (r *Results) Wait(t testing.TB, n int, d time.Duration) map[string][]contract.Result {
	t.Helper()
	deadline := time.After(d)
	for r.Count() < n {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("contracttest: %d of %d results after %s", r.Count(), n, d)
		}
	}
	return r.Get()
}

// Command is a JSON command message for op, with its id as Nats-Msg-Id and
// its reply subject, if any.
func Command(t testing.TB, op, id, replyTo string, fields map[string]any) *nats.Msg {
	t.Helper()
	data, err := json.Marshal(map[string]any{"id": id, "fields": fields})
	if err != nil {
		t.Fatalf("contracttest: %v", err)
	}
	m := nats.NewMsg(contract.CommandPrefix + op)
	m.Data = data
	m.Header.Set(contract.HeaderMsgID, id)
	m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
	if replyTo != "" {
		m.Header.Set(contract.HeaderReplyTo, replyTo)
	}
	return m
}

// Publish publishes a JSON command and waits for the stream to store it.
func Publish(t testing.TB, js jetstream.JetStream, op, id, replyTo string, fields map[string]any) {
	t.Helper()
	if _, err := js.PublishMsg(context.Background(), Command(t, op, id, replyTo, fields)); err != nil {
		t.Fatalf("contracttest: publish %s: %v", id, err)
	}
}
