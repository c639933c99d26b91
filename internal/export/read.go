package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// The outcomes of one read of a chunk, the metrics' labels.
const (
	outSuccess    = "success"
	outNoGrant    = "no_grant"     // the quota did not grant: not called
	outOutOfLimit = "out_of_limit" // the service said OUT_OF_LIMIT
	outTooLarge   = "too_large"    // the answer was over MaxResponseBytes
	outRefused    = "refused"      // a Fault or a result code: the period, presumably
	outFailed     = "failed"       // cannot succeed by reading again: a row too large
	outAPIError   = "api_error"    // transport, HTTP, decoding: read again later
	outStoreError = "store_error"  // JetStream failed
	outQuotaError = "quota_error"  // the ledger failed
)

// readResult is what one read of a chunk did.
type readResult struct {
	outcome string
	// retryAt, for no_grant and out_of_limit, is when to ask again.
	retryAt time.Time
	// called reports that a call was made (it counts against the limit).
	called bool
	// rows read; published as new, duplicates dropped by the stream;
	// bytes of the rows' JSON.
	rows, published, duplicates int
	bytes                       int64
	err                         error
}

// errStore marks a failure of JetStream, not of the API.
var errStore = errors.New("export: storing the rows failed")

// errRowTooLarge marks a row that no message can carry.
var errRowTooLarge = errors.New("export: a row is larger than a NATS message may be")

// codeParamNotExist is the service's code for a parameter it does not
// know: a filter, not the period, so halving cannot help.
const codeParamNotExist = "PARAM_NOT_EXIST"

// job is one export as its reads need it: the export, its read and
// period, and its id column.
type job struct {
	Export
	op    *catalog.Operation
	p     catalog.Period
	idCol string
}

// read takes a call from the exports' share and reads [from, to) of j's
// history, publishing each row as it is decoded, at most Batch awaiting
// their acknowledgement at a time; it returns once every row published
// is stored (or the read failed).
func (r *Runner) read(ctx context.Context, j *job, from, to time.Time) readResult {
	c := r.cfg
	now := c.Clock.Now()
	g, err := c.Limiter.TakeShare(ctx, j.op.Name, quota.Share{Name: exportShare, Part: c.Share}, now)
	switch {
	case err != nil:
		return readResult{outcome: outQuotaError, err: err}
	case !g.OK:
		return readResult{outcome: outNoGrant, retryAt: g.RetryAt}
	}
	req, err := r.request(j, from, to)
	if err != nil {
		return readResult{outcome: outFailed, err: err}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.CallTimeout)
	defer cancel()
	callCtx, span := r.tracer.Start(callCtx, "export "+j.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("connect.export", j.Name), attribute.String("connect.op", j.op.Name),
			attribute.String("connect.period.from", from.Format(time.RFC3339)), attribute.String("connect.period.to", to.Format(time.RFC3339))))
	defer span.End()
	res := readResult{outcome: outSuccess, called: true}
	seen := c.Clock.Now().UTC()
	period := Period{From: from.In(c.Location), To: to.In(c.Location)}
	ids := newIdentity(j.idCol)
	var futures []jetstream.PubAckFuture
	await := func() error {
		n, dups, err := wait(callCtx, futures)
		res.published += n
		res.duplicates += dups
		futures = futures[:0]
		return err
	}
	maxPayload := r.cfg.Conn.MaxPayload() - 4<<10 // the headers
	publish := func(id string, cells map[string]any) error {
		b, err := json.Marshal(Row{Op: j.op.Name, Row: cells, Period: period, Seen: seen})
		if err != nil {
			return fmt.Errorf("export: row: %w", err)
		}
		if int64(len(b)) > maxPayload {
			if c.Files == nil {
				return fmt.Errorf("%w (%d bytes, at most %d)", errRowTooLarge, len(b), maxPayload)
			}
			// The row's data goes to the files bucket; its message
			// carries the reference in its place.
			ref, err := c.Files.Put(callCtx, "history/"+j.op.Name+"/rows/"+id+".json", bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("%w: %w", errStore, err)
			}
			if b, err = json.Marshal(Row{Op: j.op.Name, Row: map[string]any{files.Key: ref}, Period: period, Seen: seen}); err != nil {
				return fmt.Errorf("export: row: %w", err)
			}
		}
		res.rows++
		res.bytes += int64(len(b))
		m := nats.NewMsg(Subject(c.Names.HistoryPrefix, j.op.Name))
		m.Data = b
		m.Header.Set(headerMsgID, MsgID(j.op.Name, id))
		m.Header.Set(HeaderRowID, id)
		m.Header.Set(HeaderExport, j.Name)
		m.Header.Set(contentType, jsonType)
		propagation.TraceContext{}.Inject(callCtx, contract.TraceCarrier(m.Header))
		fut, err := r.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("%w: %w", errStore, err)
		}
		futures = append(futures, fut)
		if len(futures) >= c.Batch {
			if err := await(); err != nil {
				return fmt.Errorf("%w: %w", errStore, err)
			}
		}
		return nil
	}
	var resp *soap.Response
	resp, err = c.API.CallRows(callCtx, req, soap.RowsOptions{MaxResponseBytes: c.MaxResponseBytes},
		func(cols []soap.Column, row []soap.Value) error {
			cells := rowMap(cols, row)
			id, _, err := ids.of(cells)
			if err != nil {
				return err
			}
			return publish(id, cells)
		})
	if err == nil && j.p.Archive {
		err = r.archiveRows(callCtx, j, period, resp, publish)
	}
	if err == nil && len(futures) > 0 {
		if err = await(); err != nil {
			err = fmt.Errorf("%w: %w", errStore, err)
		}
	}
	if err != nil {
		res.outcome, res.err = classify(err), err
		if res.outcome == outOutOfLimit {
			_ = c.Limiter.Exhausted(ctx, j.op.Name, now)
			res.retryAt = g.Reset.Add(time.Second)
		}
	}
	return res
}

// classify names the outcome of a read that failed with err.
func classify(err error) string {
	var fe *soap.FaultError
	var re *soap.ResultError
	switch {
	case errors.Is(err, errStore):
		return outStoreError
	case errors.Is(err, soap.ErrOutOfLimit):
		return outOutOfLimit
	case errors.Is(err, soap.ErrResponseTooLarge):
		return outTooLarge
	case errors.Is(err, errRowTooLarge), errors.Is(err, soap.ErrRowTooLarge):
		return outFailed
	case errors.As(err, &re) && re.Code == codeParamNotExist:
		return outFailed
	case errors.As(err, &fe), errors.As(err, &re):
		// How the service refuses a period too long is not published: any
		// refusal of the call is taken for one, and the chunk halved.
		return outRefused
	}
	return outAPIError
}

// request is the read of [from, to): the export's filters and the
// period, written as wall clocks in the account's zone (Fields drops a
// time's offset), to the second.
func (r *Runner) request(j *job, from, to time.Time) (*soap.Request, error) {
	fields := make(map[string]any, len(j.Filters)+2)
	for k, v := range j.Filters {
		fields[k] = v
	}
	fields[j.p.From] = from.In(r.cfg.Location)
	fields[j.p.To] = to.In(r.cfg.Location)
	props, err := j.op.Fields(fields)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", j.Name, err)
	}
	return &soap.Request{Op: j.op.Name, Params: soap.Struct(props...)}, nil
}

// wait waits for every publish acknowledgement, and returns how many
// rows the stream stored as new and how many it dropped as duplicates.
func wait(ctx context.Context, futures []jetstream.PubAckFuture) (stored, dups int, err error) {
	for _, fut := range futures {
		select {
		case ack := <-fut.Ok():
			if ack.Duplicate {
				dups++
			} else {
				stored++
			}
		case err := <-fut.Err():
			return stored, dups, err
		case <-ctx.Done():
			return stored, dups, ctx.Err()
		}
	}
	return stored, dups, nil
}

// archiveRows exports an archive answer (the colleagues' chat: a base64
// ZIP of HTML files as ResultData): each file becomes an object of the
// files bucket, under history/<op>/<period>/ (see files.ArchiveName),
// and a row {"name": <name in the archive>, "file": {"$object": …}},
// identified by the file's name and digest, so that reading the period
// again publishes nothing new.
func (r *Runner) archiveRows(ctx context.Context, j *job, period Period, resp *soap.Response, publish func(id string, cells map[string]any) error) error {
	if resp == nil || resp.Data.Kind == soap.KindNil {
		return nil // no chat in the period
	}
	if resp.Data.Kind != soap.KindBinary && resp.Data.Kind != soap.KindString {
		return fmt.Errorf("%w: %s answered %s, not a base64 archive", errRowTooLarge, j.op.Name, resp.Data.Kind)
	}
	raw, err := base64.StdEncoding.DecodeString(resp.Data.Text)
	if err != nil {
		return fmt.Errorf("%w: %s answered an archive that is not base64", errRowTooLarge, j.op.Name)
	}
	const stamp = "20060102T150405"
	prefix := "history/" + j.op.Name + "/" + period.From.Format(stamp) + "-" + period.To.Format(stamp) + "/"
	got, err := r.cfg.Files.Unpack(ctx, prefix, raw, 0)
	if errors.Is(err, files.ErrArchive) {
		return fmt.Errorf("%w: %w", errRowTooLarge, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	for _, u := range got {
		sum := sha256.Sum256([]byte(u.Name + "\x00" + u.Ref.Digest))
		if err := publish("file-"+hex.EncodeToString(sum[:16]), map[string]any{"name": u.Name, "file": u.Ref.Wrap()}); err != nil {
			return err
		}
	}
	return nil
}
