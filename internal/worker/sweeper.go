package worker

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
)

// maxSweptSubjects bounds the unknown subjects one sweep drains;
// sweepBatch bounds one fetch of a sweep.
const (
	maxSweptSubjects = 64
	sweepBatch       = 16
)

// sweeper answers commands published on subjects of no known operation
// (connect.cmd.Foo). The command stream is a work queue, whose consumers
// may not overlap, so no catch-all consumer can sit beside the operations'
// ones; instead the sweeper asks the stream which subjects hold messages
// and drains each unknown one through a short-lived consumer of that
// subject alone.
type sweeper struct {
	w    *Worker
	fin  chan []*final // to the finisher
	done chan []*entry // the finisher's acknowledged batches
}

func (s *sweeper) run(ctx context.Context) {
	s.fin, s.done = make(chan []*final, 1), make(chan []*entry, 1)
	finDone := make(chan struct{})
	go func() {
		defer close(finDone)
		(&finisher{w: s.w, lane: unknownOp}).run(s.fin, s.done)
	}()
	defer func() {
		close(s.fin)
		<-finDone
	}()
	tick := s.w.clock.NewTicker(s.w.cfg.SweepInterval)
	defer tick.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
	}
}

// sweep drains every unknown subject once.
func (s *sweeper) sweep(ctx context.Context) {
	n := s.w.cfg.Names
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := s.w.js.Stream(sctx, n.CommandStream)
	if err != nil {
		return
	}
	info, err := st.Info(sctx, jetstream.WithSubjectFilter(n.CommandPrefix+">"))
	if err != nil {
		return
	}
	drained := 0
	for subject := range info.State.Subjects {
		op := strings.TrimPrefix(subject, n.CommandPrefix)
		if _, known := catalog.Lookup(op); known {
			continue
		}
		// Producers choose these subjects: a flood of them is worked off a
		// bounded number per sweep.
		if drained++; drained > maxSweptSubjects {
			break
		}
		s.drain(sctx, st, subject, op)
	}
}

// drain answers the commands of one unknown subject with UNKNOWN_OPERATION.
func (s *sweeper) drain(ctx context.Context, st jetstream.Stream, subject, op string) {
	c, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           s.w.cfg.AckWait,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		// Another replica is draining it.
		return
	}
	defer func() {
		_ = st.DeleteConsumer(context.Background(), c.CachedInfo().Name)
	}()
	for ctx.Err() == nil {
		// A few at a time: these commands are held outside every lane's
		// byte budget.
		batch, err := c.Fetch(sweepBatch, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			return
		}
		var finals []*final
		for m := range batch.Messages() {
			_, fn := s.w.decode(m, op, nil, s.w.clock.Now())
			fn.e.finishing = true
			finals = append(finals, fn)
		}
		if len(finals) == 0 {
			return
		}
		s.w.log.Warn().Str("subject", subject).Int("commands", len(finals)).Msg("commands for an unknown operation")
		select {
		case s.fin <- finals:
		case <-ctx.Done():
			return
		}
		// Acknowledged through this consumer: wait before it is deleted.
		<-s.done
	}
}
