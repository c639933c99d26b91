package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Poison commands.
//
// A command may be delivered many times without a result: a worker that
// dies holding it (killed, out of memory) leaves it to be redelivered,
// and if the command itself is what kills workers, every replica would
// die in turn, for ever. So deliveries are bounded: the consumers'
// MaxDeliver is Config.MaxDeliver, and the delivery that reaches it is
// answered POISON (with a dead letter) by decode before its payload is
// read at all. Should even that delivery end without a result (its
// worker died too), the server stops delivering the message and says so
// in a max-deliveries advisory; the poison watcher then answers it the
// same way from the stored message, and deletes it from the stream.

// maxDeliveriesAdvisory is the subject of the server's advisory for a
// message of the stream's consumer that reached MaxDeliver.
func maxDeliveriesAdvisory(stream string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + ".*"
}

// poisonAdvisory is the part of the advisory the watcher reads.
type poisonAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// watchPoison answers the commands the server gave up delivering, until ctx
// ends. One replica takes each advisory (a queue subscription).
func (w *Worker) watchPoison(ctx context.Context) {
	fin := make(chan []*final, 1)
	finDone := make(chan struct{})
	go func() {
		defer close(finDone)
		(&finisher{w: w, lane: "poison"}).run(fin, nil)
	}()
	defer func() {
		close(fin)
		<-finDone
	}()
	advisories := make(chan *nats.Msg, 64)
	sub, err := w.nc.ChanQueueSubscribe(maxDeliveriesAdvisory(w.cfg.Names.CommandStream), "connect-poison", advisories)
	if err != nil {
		w.log.Error().Err(err).Msg("cannot watch for commands delivered too often")
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-advisories:
			var a poisonAdvisory
			if err := json.Unmarshal(m.Data, &a); err != nil || a.StreamSeq == 0 {
				continue
			}
			if fn := w.poisonStored(ctx, a); fn != nil {
				select {
				case fin <- []*final{fn}:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// poisonStored makes the POISON result of the stored message an advisory
// names; nil when the message is gone (answered meanwhile) or cannot be
// read now.
func (w *Worker) poisonStored(ctx context.Context, a poisonAdvisory) *final {
	gctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	raw, err := w.cmdStream.GetMsg(gctx, a.StreamSeq)
	if err != nil {
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			w.log.Warn().Err(err).Uint64("stream_seq", a.StreamSeq).Msg("reading a command delivered too often failed; it stays in the stream")
		}
		return nil
	}
	op := strings.TrimPrefix(raw.Subject, w.cfg.Names.CommandPrefix)
	l := w.lanes[op]
	m := &storedMsg{raw: raw, stream: w.cmdStream, deliveries: a.Deliveries}
	e := &entry{msg: m, seq: raw.Sequence, op: op, arrived: w.clock.Now()}
	if l != nil {
		e.cat = l.op
	}
	return w.poison(e, a.Deliveries, w.clock.Now())
}

// storedMsg is a command read from the stream by its sequence rather than
// delivered by a consumer: acknowledging it deletes it from the stream.
type storedMsg struct {
	raw        *jetstream.RawStreamMsg
	stream     jetstream.Stream
	deliveries uint64
}

func (m *storedMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.raw.Sequence}, NumDelivered: m.deliveries, Timestamp: m.raw.Time}, nil
}
func (m *storedMsg) Data() []byte         { return m.raw.Data }
func (m *storedMsg) Headers() nats.Header { return m.raw.Header }
func (m *storedMsg) Subject() string      { return m.raw.Subject }
func (m *storedMsg) Reply() string        { return "" }

// Ack deletes the message: its result is recorded.
func (m *storedMsg) Ack() error {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	return m.DoubleAck(ctx)
}

// DoubleAck deletes the message and waits for the server to confirm.
func (m *storedMsg) DoubleAck(ctx context.Context) error {
	if err := m.stream.DeleteMsg(ctx, m.raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete command %d: %w", m.raw.Sequence, err)
	}
	return nil
}

// Nak, NakWithDelay, InProgress, Term and TermWithReason do nothing: no
// consumer delivers this message any more.
func (m *storedMsg) Nak() error                       { return nil }
func (m *storedMsg) NakWithDelay(time.Duration) error { return nil }
func (m *storedMsg) InProgress() error                { return nil }
func (m *storedMsg) Term() error                      { return nil }
func (m *storedMsg) TermWithReason(string) error      { return nil }
