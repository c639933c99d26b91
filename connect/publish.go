package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Backoff between attempts to publish one command.
const (
	publishBackoffInitial = 50 * time.Millisecond
	publishBackoffMax     = 2 * time.Second
)

// publish sends msg to the command stream until the stream acknowledges
// it, retrying transient failures with backoff until ctx ends. msg keeps
// its Nats-Msg-Id across attempts, so an attempt whose acknowledgement
// was lost but whose message was stored makes the next one a duplicate,
// which the stream drops: one command, whatever the number of attempts.
func (c *Client) publish(ctx context.Context, msg *nats.Msg, p *Pending) error {
	wait := publishBackoffInitial
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.publishTimeout)
		ack, err := c.js.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			p.duplicate = ack.Duplicate
			c.published(p, time.Now())
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect: publish %s %s (%d attempts): %w", p.op, p.id, attempt, ctx.Err())
		}
		if !transient(err) {
			return fmt.Errorf("connect: publish %s %s: %w", p.op, p.id, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect: publish %s %s (%d attempts): %w (last error: %v)", p.op, p.id, attempt, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, publishBackoffMax)
	}
}

// transient reports whether a failed publish may succeed if tried again:
// a timeout, no stream answering (yet), a connection being
// re-established, a full stream. A closed connection, a message too
// large and other refusals of the stream will not.
func transient(err error) bool {
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrMaxPayload),
		errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrInvalidMsg):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrConnectionDraining):
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		// The stream is full: it takes new commands again once the worker
		// has consumed some (README: publish again later, same id).
		d := api.Description
		return strings.Contains(d, "maximum messages") || strings.Contains(d, "maximum bytes") || api.Code == 503
	}
	return false
}
