package enqueue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Results reads the results of the commands with the given ids and prints
// them to Stdout as JSON lines, in the order of ids. With op, each is read
// from the outcome bucket (one get per id). Without op the result stream
// is scanned from its start, headers only, matching the Nats-Msg-Id
// header (contract.ResultMsgID) of each message: O(stream), so give op
// when known. The whole lookup is bounded by Config.Timeout. The error
// wraps ErrIncomplete when a result is missing or not SUCCESS.
func (cl *Client) Results(ctx context.Context, op string, ids []string) (Summary, error) {
	start := cl.cfg.Now()
	ctx, cancel := context.WithTimeout(ctx, cl.cfg.Timeout)
	defer cancel()

	// An id given twice is looked up and printed once, like --wait.
	var uniq []string
	seen := map[string]bool{}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return Summary{}, fmt.Errorf("enqueue: id %q: %w", id, err)
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if len(uniq) == 0 {
		return Summary{}, errors.New("enqueue: no id to look up")
	}

	var found map[string]contract.Result
	var err error
	if op != "" {
		found, err = cl.fromBucket(ctx, op, uniq)
	} else {
		found, err = cl.scanResults(ctx, uniq)
	}
	if err != nil {
		return Summary{}, err
	}

	// Print in the order asked, whatever order the scan found them in,
	// so that the output lines up with the ids given.
	sum := Summary{Commands: len(uniq), ByCode: map[string]int{}, Waited: true}
	for _, id := range uniq {
		res, ok := found[id]
		if !ok {
			sum.Missing = append(sum.Missing, id)
			continue
		}
		line, err := json.Marshal(res)
		if err != nil {
			return sum, fmt.Errorf("enqueue: result %s as JSON: %w", id, err)
		}
		if _, err := cl.cfg.Stdout.Write(append(line, '\n')); err != nil {
			return sum, fmt.Errorf("enqueue: write result: %w", err)
		}
		sum.Results++
		sum.ByCode[res.Code]++
	}
	sum.Elapsed = cl.cfg.Now().Sub(start)

	w := cl.cfg.Stderr
	fmt.Fprintf(w, "enqueue: %d of %s found%s; %s elapsed\n",
		sum.Results, count(sum.Commands, "result"), byCode(sum.ByCode), sum.Elapsed.Round(time.Millisecond))
	if len(sum.Missing) > 0 {
		fmt.Fprintf(w, "enqueue: %d not found: %s\n", len(sum.Missing), strings.Join(sum.Missing, " "))
	}
	if !sum.OK() {
		return sum, fmt.Errorf("%w: %s", ErrIncomplete, sum.problems())
	}
	return sum, nil
}

// fromBucket reads the final results of op's ids from the outcome
// bucket, with the SDK's Lookup.
func (cl *Client) fromBucket(ctx context.Context, op string, ids []string) (map[string]contract.Result, error) {
	sdk, err := cl.sdk()
	if err != nil {
		return nil, err
	}
	defer func() { _ = sdk.Close() }()
	found := map[string]contract.Result{}
	for _, id := range ids {
		res, err := sdk.Lookup(ctx, op, id)
		var re *connect.ResultError
		switch {
		case errors.Is(err, connect.ErrNotFinal):
			fmt.Fprintf(cl.cfg.Stderr, "enqueue: %s (%s): sent to the API, no final outcome yet\n", id, op)
			continue
		case errors.Is(err, connect.ErrNoResult):
			fmt.Fprintf(cl.cfg.Stderr, "enqueue: %s (%s): no outcome in bucket %s\n", id, op, cl.cfg.Bucket)
			continue
		case err != nil && !errors.As(err, &re):
			return nil, fmt.Errorf("enqueue: outcome of %s (%s): %w", id, op, err)
		}
		found[id] = resultOf(res, err)
	}
	return found, nil
}

// scanResults scans the result stream for the results of ids, headers
// only, fetching the payload of each match; it stops at the end of the
// stream as it was when the scan started, or when every id is found.
func (cl *Client) scanResults(ctx context.Context, ids []string) (map[string]contract.Result, error) {
	stream, err := cl.js.Stream(ctx, cl.cfg.ResultStream)
	if err != nil {
		return nil, fmt.Errorf("enqueue: result stream %s: %w", cl.cfg.ResultStream, err)
	}
	found := map[string]contract.Result{}
	// On an empty stream no message would ever come to say the scan is
	// over: Next would block until the timeout.
	if stream.CachedInfo().State.Msgs == 0 {
		return found, nil
	}
	// The Nats-Msg-Id of a result ends with the id in base64url.
	want := make(map[string]string, len(ids))
	for _, id := range ids {
		want[base64.RawURLEncoding.EncodeToString([]byte(id))] = id
	}
	// Headers only: a result's payload can be large (read data), and the
	// header alone says whose result it is. The ordered consumer is
	// ephemeral and needs no clean-up beyond Stop.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true})
	if err != nil {
		return nil, fmt.Errorf("enqueue: scan %s: %w", cl.cfg.ResultStream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("enqueue: scan %s: %w", cl.cfg.ResultStream, err)
	}
	defer it.Stop()

	for len(found) < len(ids) {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(cl.cfg.Stderr, "enqueue: scan of %s stopped at the timeout\n", cl.cfg.ResultStream)
				return found, nil
			}
			return nil, fmt.Errorf("enqueue: scan %s: %w", cl.cfg.ResultStream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("enqueue: scan %s: %w", cl.cfg.ResultStream, err)
		}
		msgID := msg.Headers().Get(contract.HeaderMsgID)
		_, match := want[msgIDSuffix(msgID)]
		if match || msgID == "" { // a result without the header is read whole
			if err := cl.readResult(ctx, stream, md.Sequence.Stream, want, found); err != nil {
				return nil, err
			}
		}
		// NumPending is what is left after this message: zero is the end
		// of the stream as it is now. Results appended meanwhile are for
		// commands decided after the lookup began.
		if md.NumPending == 0 {
			break
		}
	}
	return found, nil
}

// readResult gets the result stored at seq and keeps it when it is one
// of want's ids that has no result yet.
func (cl *Client) readResult(ctx context.Context, stream jetstream.Stream, seq uint64, want map[string]string, found map[string]contract.Result) error {
	// One request per match (or header-less message): far fewer than the
	// messages scanned.
	raw, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("enqueue: get result %d from %s: %w", seq, cl.cfg.ResultStream, err)
	}
	res, err := contract.DecodeResult(raw.Data)
	if err != nil {
		// One unreadable message must not hide the others: say so, go on.
		fmt.Fprintf(cl.cfg.Stderr, "enqueue: result %d in %s: %v\n", seq, cl.cfg.ResultStream, err)
		return nil
	}
	// The payload's id decides: the header only selected the message.
	// The first result of an id wins, as with --wait.
	id, ok := want[base64.RawURLEncoding.EncodeToString([]byte(res.ID))]
	if _, dup := found[id]; ok && !dup {
		found[id] = res
	}
	return nil
}

// msgIDSuffix returns the base64url id at the end of a result's
// Nats-Msg-Id ("result.<Op>.<id>"), or "" when it is not one.
func msgIDSuffix(msgID string) string {
	rest, ok := strings.CutPrefix(msgID, "result.")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return ""
	}
	return rest[i+1:]
}
