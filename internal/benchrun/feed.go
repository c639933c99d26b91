package benchrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/feed"
)

// Lines 13 and 14 measure the change feed of the real worker binary (go
// build ./cmd/worker), run as a child process with one feed of
// ClientUserRead against the sandbox of this process and the embedded
// broker of the line's world. This file starts that process and reads
// what it stores: its marker and its events.

// feedRead is the read every feed line follows; its feed has its name.
const feedRead = "ClientUserRead"

// startFeedWorker runs bin with a feed of feedRead every interval against
// the broker of e and the SOAP endpoint api, serving ClientUserEdit only
// (no command is sent), limits off, and waits until it is ready: its
// stream and buckets are set up, and its first poll is under way.
func startFeedWorker(ctx context.Context, e *env, bin, api string, interval time.Duration) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startWorkerProcess(ctx, bin, addr, "--nats-url", e.url, "--connect-url", api, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--log-level", "warn", "--operations", op, "--local-quota", "--limit", "*="+strconv.Itoa(unlimited),
		"--feed", feedRead+"="+interval.String(), "--shutdown-timeout", "5s")
}

// startWorkerProcess runs bin with args, which make it serve its probes
// on addr, and waits until it is ready.
func startWorkerProcess(ctx context.Context, bin, addr string, args ...string) (*child, error) {
	c, out, err := start(bin, args...)
	if err != nil {
		return nil, err
	}
	// Its log (JSON on stdout) goes with its stderr, for errors; a pipe
	// left unread would stop the process once full.
	go func() { _, _ = io.Copy(&c.logs, out) }()
	if err := waitHTTP(ctx, "http://"+addr+"/readyz", 30*time.Second, c.exited); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w; worker log: %s", err, c.logs.String())
	}
	return c, nil
}

// waitMarker waits until the feed's marker has a revision after rev (0:
// any) and returns that record, or fails after d or when the worker
// exits.
func waitMarker(ctx context.Context, js jetstream.JetStream, rev uint64, d time.Duration, exited <-chan error) (jetstream.KeyValueEntry, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	kv, err := js.KeyValue(wctx, feed.MarkerBucket)
	if err != nil {
		return nil, fmt.Errorf("marker bucket: %w", err)
	}
	w, err := kv.Watch(wctx, feedRead)
	if err != nil {
		return nil, fmt.Errorf("watching the marker: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e := <-w.Updates():
			if e != nil && e.Operation() == jetstream.KeyValuePut && e.Revision() > rev {
				return e, nil
			}
		case err := <-exited:
			return nil, fmt.Errorf("the worker exited: %v", err)
		case <-wctx.Done():
			return nil, fmt.Errorf("no marker after revision %d within %s", rev, d)
		}
	}
}

// markerState decodes a marker record.
func markerState(e jetstream.KeyValueEntry) (feed.State, error) {
	var st feed.State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return st, fmt.Errorf("marker %q: %w", e.Value(), err)
	}
	return st, nil
}

// storedEvent is one event of CONNECT_CHANGES and when the stream stored
// it.
type storedEvent struct {
	feed.Event
	Stored time.Time
}

// readChanges reads every event in CONNECT_CHANGES, in stream order.
func readChanges(ctx context.Context, js jetstream.JetStream) ([]storedEvent, error) {
	st, err := js.Stream(ctx, feed.ChangeStream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	c, err := js.OrderedConsumer(ctx, feed.ChangeStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	out := make([]storedEvent, 0, info.State.Msgs)
	deadline := time.Now().Add(2 * time.Minute)
	for uint64(len(out)) < info.State.Msgs {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("read %d of %d events within 2m", len(out), info.State.Msgs)
		}
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			e, err := feed.DecodeEvent(m.Data())
			if err != nil {
				return nil, err
			}
			out = append(out, storedEvent{Event: e, Stored: md.Timestamp})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
	}
	return out, nil
}

// streamMsgs is how many messages stream holds.
func streamMsgs(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
