package worker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// setup creates or updates the streams, the outcome bucket and the
// operations' consumers. Every replica runs it at start; the calls are
// idempotent.
func (w *Worker) setup(ctx context.Context) error {
	n := w.cfg.Names
	streams := []jetstream.StreamConfig{
		{
			Name:        n.CommandStream,
			Description: "Commands for the 1C-Connect API, one per message, consumed once",
			Subjects:    []string{n.CommandPrefix + ">"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Duplicates:  w.cfg.DuplicateWindow,
			Replicas:    w.cfg.Replicas,
			// A full stream refuses new commands (the producer's publish
			// fails and says so); it never drops queued ones.
			Discard:    jetstream.DiscardNew,
			MaxBytes:   w.cfg.CommandLimits.MaxBytes,
			MaxMsgs:    w.cfg.CommandLimits.MaxMsgs,
			MaxMsgSize: w.cfg.CommandLimits.MaxMsgSize,
		},
		{
			Name:        n.ResultStream,
			Description: "Final results of commands, one per command",
			Subjects:    []string{n.ResultPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      w.cfg.ResultMaxAge,
			Duplicates:  w.cfg.DuplicateWindow,
			Replicas:    w.cfg.Replicas,
		},
		{
			Name:        n.DLQStream,
			Description: "Commands that could not be processed, with the reason",
			Subjects:    []string{n.DLQPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      w.cfg.DLQMaxAge,
			Replicas:    w.cfg.Replicas,
		},
	}
	for i, sc := range streams {
		st, err := w.js.CreateOrUpdateStream(ctx, sc)
		if err != nil {
			return fmt.Errorf("worker: stream %s: %w", sc.Name, err)
		}
		if i == 0 {
			w.cmdStream = st
		}
	}
	kv, err := w.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      n.OutcomeBucket,
		Description: "Outcome of every finished command, for answering redeliveries",
		TTL:         w.cfg.OutcomeTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    w.cfg.Replicas,
		History:     1,
	})
	if err != nil {
		return fmt.Errorf("worker: bucket %s: %w", n.OutcomeBucket, err)
	}
	w.kv = kv
	w.kvStream = "KV_" + n.OutcomeBucket
	for _, l := range w.lanes {
		cc := jetstream.ConsumerConfig{
			Durable:       n.ConsumerPrefix + l.op.Name,
			Description:   "Worker lane of " + l.op.Name,
			FilterSubject: n.CommandPrefix + l.op.Name,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       w.cfg.AckWait,
			// API attempts are counted by the worker; deliveries are bounded
			// so that no message is delivered for ever (see poison.go).
			MaxDeliver:    w.cfg.MaxDeliver,
			MaxAckPending: l.set.MaxPending,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			Replicas:      w.cfg.Replicas,
		}
		if !w.cfg.Unordered {
			cc.PriorityGroups = []string{n.PriorityGroup}
			cc.PriorityPolicy = jetstream.PriorityPolicyPinned
			cc.PinnedTTL = w.cfg.PinnedTTL
		}
		c, err := w.js.CreateOrUpdateConsumer(ctx, n.CommandStream, cc)
		if err != nil {
			return fmt.Errorf("worker: consumer %s: %w", cc.Durable, err)
		}
		l.src = c
	}
	return nil
}
