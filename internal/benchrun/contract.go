package benchrun

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// contractCeiling is line 1b: the NATS work the worker's contract asks
// for each command, done by a bare consumer with no worker logic (no
// decoding, no batching, no API call): fetch; record an outcome in the
// key-value bucket (conditional, as the worker writes it); once stored,
// store a result in the result stream (with its Nats-Msg-Id) and send it
// to the reply subject; then acknowledge. Batches overlap as the worker's
// finishers do. Timed from the first publish to the last reply, like line
// 2. It is the rate no worker keeping these guarantees can exceed here.
func contractCeiling(ctx context.Context, n, batch, maxAckPending int) (throughput, error) {
	inbox := nats.NewInbox()
	e, msgs, err := ceilingEnv(ctx, "", n, inbox)
	if err != nil {
		return throughput{}, err
	}
	defer e.Close()
	if _, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: contract.ResultStream, Subjects: []string{contract.ResultPrefix + ">"},
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
	}); err != nil {
		return throughput{}, err
	}
	if _, err := e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: contract.OutcomeBucket, Storage: jetstream.FileStorage, TTL: time.Hour,
	}); err != nil {
		return throughput{}, err
	}
	res, err := e.collect(inbox, "c", n)
	if err != nil {
		return throughput{}, err
	}
	cnc, cjs, cons, err := e.consumer(ctx, "bench-contract", maxAckPending)
	if err != nil {
		return throughput{}, err
	}
	defer cnc.Close()
	// One result payload of the worker's size, with each command's id.
	finish := func(ms []jetstream.Msg) error {
		futs := make([]jetstream.PubAckFuture, 0, len(ms))
		ids := make([]string, len(ms))
		for i, m := range ms {
			md, _ := m.Metadata()
			ids[i] = "c" + strconv.FormatUint(md.Sequence.Stream-1, 10)
			r := contract.Result{ID: ids[i], Op: op, Code: contract.CodeSuccess, Data: true, Batch: "bench", Row: i + 1, Rows: len(ms), Attempts: 1, At: time.Now()}
			rec, _ := contract.EncodeOutcome(contract.Outcome{State: contract.StateFinal, Batch: "bench", Result: &r})
			km := nats.NewMsg("$KV." + contract.OutcomeBucket + "." + contract.OutcomeKey(op, ids[i]))
			km.Data = rec
			km.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
			f, err := cjs.PublishMsgAsync(km)
			if err != nil {
				return err
			}
			futs = append(futs, f)
		}
		if err := waitAll(ctx, futs); err != nil {
			return err
		}
		futs = futs[:0]
		payloads := make([][]byte, len(ms))
		for i := range ms {
			r := contract.Result{ID: ids[i], Op: op, Code: contract.CodeSuccess, Data: true, Batch: "bench", Row: i + 1, Rows: len(ms), Attempts: 1, At: time.Now()}
			payloads[i], _ = contract.EncodeResult(contract.JSON, r)
			rm := nats.NewMsg(contract.ResultPrefix + op)
			rm.Data = payloads[i]
			rm.Header.Set(contract.HeaderMsgID, contract.ResultMsgID(op, ids[i]))
			f, err := cjs.PublishMsgAsync(rm)
			if err != nil {
				return err
			}
			futs = append(futs, f)
		}
		if err := waitAll(ctx, futs); err != nil {
			return err
		}
		for i, m := range ms {
			if err := cnc.Publish(m.Headers().Get(contract.HeaderReplyTo), payloads[i]); err != nil {
				return err
			}
			if err := m.Ack(); err != nil {
				return err
			}
		}
		return nil
	}
	failed := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	go func() {
		sem := make(chan struct{}, 4) // as many batches at once as the worker's finishers
		for got := 0; got < n; {
			select {
			case <-stop:
				return
			default:
			}
			b, err := cons.Fetch(min(batch, n-got), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				failed <- err
				return
			}
			var ms []jetstream.Msg
			for m := range b.Messages() {
				ms = append(ms, m)
			}
			got += len(ms)
			if len(ms) == 0 {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := finish(ms); err != nil {
					select {
					case failed <- err:
					default:
					}
				}
			}()
		}
	}()
	cpu0 := cpuTime()
	start, err := e.publishAll(ctx, msgs)
	if err != nil {
		return throughput{}, err
	}
	done := make(chan error, 1)
	go func() { done <- res.wait(ctx, 5*time.Minute) }()
	select {
	case err = <-done:
	case err = <-failed:
		err = fmt.Errorf("consumer: %w", err)
	}
	close(stop)
	wg.Wait()
	if err != nil {
		return throughput{}, err
	}
	elapsed := res.lastAt().Sub(start)
	return throughput{N: n, Elapsed: elapsed, Cores: (cpuTime() - cpu0).Seconds() / elapsed.Seconds()}, nil
}

// waitAll waits for every publish acknowledgement.
func waitAll(ctx context.Context, futs []jetstream.PubAckFuture) error {
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("no publish acknowledgement within 30s")
		}
	}
	return nil
}
