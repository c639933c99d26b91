package enqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/proctest"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}

// bundle is one test's JetStream server, set up as the worker would set it
// up, and the writers the client prints to.
type bundle struct {
	url    string
	nc     *nats.Conn
	js     jetstream.JetStream
	cmds   jetstream.Stream
	res    jetstream.Stream
	kv     jetstream.KeyValue
	stdout *proctest.Buffer
	stderr *proctest.Buffer
}

// setup starts an embedded JetStream server with the command stream
// (work queue, 10m duplicate window), the result stream and the outcome
// bucket.
func setup(t *testing.T) *bundle {
	t.Helper()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	ctx := testContext(t)
	cmds, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       contract.CommandStream,
		Subjects:   []string{contract.CommandPrefix + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: 10 * time.Minute,
	})
	require.NoError(t, err)
	res, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     contract.ResultStream,
		Subjects: []string{contract.ResultPrefix + ">"},
	})
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.OutcomeBucket})
	require.NoError(t, err)
	return &bundle{url: srv.ClientURL(), nc: nc, js: js, cmds: cmds, res: res, kv: kv,
		stdout: &proctest.Buffer{}, stderr: &proctest.Buffer{}}
}

// client returns a client on its own connection, printing to the
// bundle's writers.
func (b *bundle) client(t *testing.T, cfg enqueue.Config) *enqueue.Client {
	t.Helper()
	nc, err := natsconn.Connect(natsconn.ConnFlags{Server: b.url})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	cfg.Stdout, cfg.Stderr = b.stdout, b.stderr
	cl, err := enqueue.New(nc, cfg)
	require.NoError(t, err)
	return cl
}

// testContext is a context that ends with the test or after 30s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stored returns every message of the command stream, in order.
func (b *bundle) stored(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := testContext(t)
	info, err := b.cmds.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := b.cmds.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// decision is what the fake worker answers to a command: nil means it
// never answers (it acks and drops the command).
type decision func(op string, c contract.Command) *contract.Result

// success answers SUCCESS with the command's fields as data.
func success(_ string, c contract.Command) *contract.Result {
	return &contract.Result{Code: contract.CodeSuccess, Data: map[string]any{"echo": len(c.Fields)}}
}

// fakeWorker is a test double of the worker, not of NATS: it consumes the
// command stream and, for each command, stores a final outcome in the
// bucket, publishes the result to the result stream and, twice (the
// worker is at-least-once), to the Connect-Reply-To subject. Each command
// it receives is sent on the returned channel.
func (b *bundle) fakeWorker(t *testing.T, decide decision) <-chan contract.Command {
	t.Helper()
	ctx := testContext(t)
	seen := make(chan contract.Command, 1024)
	cons, err := b.js.CreateOrUpdateConsumer(ctx, contract.CommandStream, jetstream.ConsumerConfig{
		Durable:   "fake-worker",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		op := strings.TrimPrefix(m.Subject(), contract.CommandPrefix)
		f := contract.Sniff(m.Headers().Get(contract.HeaderContentType), m.Data())
		cmd, err := contract.DecodeCommand(f, m.Data())
		var res *contract.Result
		switch _, known := catalog.Lookup(op); {
		case err != nil:
			res = &contract.Result{Code: contract.CodeInvalidCommand, Error: err.Error()}
		case !known:
			res = &contract.Result{Code: contract.CodeUnknownOperation, Error: "no such operation"}
		default:
			seen <- cmd
			res = decide(op, cmd)
		}
		if res != nil {
			res.ID, res.Op, res.Attempts, res.At = cmd.ID, op, 1, time.Now().UTC()
			b.answer(t, m, f, *res)
		}
		if err := m.Ack(); err != nil {
			t.Errorf("fake worker: ack: %v", err)
		}
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return seen
}

// answer stores, publishes and replies res as the worker does.
func (b *bundle) answer(t *testing.T, m jetstream.Msg, f contract.Format, res contract.Result) {
	ctx := testContext(t)
	rec, err := contract.EncodeOutcome(contract.Outcome{State: contract.StateFinal, Batch: "b-1", Result: &res})
	if err == nil {
		_, err = b.kv.Put(ctx, contract.OutcomeKey(res.Op, res.ID), rec)
	}
	if ctx.Err() != nil {
		return // the test has ended while a command was being answered
	}
	if err != nil {
		t.Errorf("fake worker: outcome: %v", err)
		return
	}
	payload, err := contract.EncodeResult(f, res)
	if err != nil {
		t.Errorf("fake worker: encode result: %v", err)
		return
	}
	rm := nats.NewMsg(contract.ResultPrefix + res.Op)
	rm.Data = payload
	rm.Header.Set(contract.HeaderMsgID, contract.ResultMsgID(res.Op, res.ID))
	if _, err := b.js.PublishMsg(ctx, rm); err != nil {
		if ctx.Err() != nil {
			return
		}
		t.Errorf("fake worker: publish result: %v", err)
	}
	if reply := m.Headers().Get(contract.HeaderReplyTo); reply != "" {
		for range 2 {
			if err := b.nc.Publish(reply, payload); err != nil {
				t.Errorf("fake worker: reply: %v", err)
			}
		}
	}
}

// putOutcome stores an outcome as the worker would.
func (b *bundle) putOutcome(t *testing.T, op, id string, o contract.Outcome) {
	t.Helper()
	rec, err := contract.EncodeOutcome(o)
	require.NoError(t, err)
	_, err = b.kv.Put(testContext(t), contract.OutcomeKey(op, id), rec)
	require.NoError(t, err)
}

// args is a Source of <Operation> <json> pairs.
func args(t *testing.T, allowUnknown bool, pairs ...string) enqueue.Source {
	t.Helper()
	src, err := enqueue.ParseArgs(pairs, allowUnknown)
	require.NoError(t, err)
	return src
}
