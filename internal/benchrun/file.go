package benchrun

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Line 16: a file of 20 MB attached to a service request from an Object
// Store reference and downloaded back, through the real worker binary:
// the time of each command, from publish to result, and the process's
// memory, which must not hold the file (attached: streamed from the
// bucket into the request) or not much more than its base64 (downloaded:
// the answer decoded, then stored in the bucket).

// The RSS bounds of line 16: those TestFileThroughTheObjectStore
// (cmd/worker) holds the worker to.
const (
	attachRSSBound = 64 << 20
	fileRSSBound   = 160 << 20
)

// fileRoundTrip is the line-16 measurement.
type fileRoundTrip struct {
	Bytes int
	// Attach and Download are from each command's publish to its result.
	Attach, Download time.Duration
	// IdleRSS is the worker's VmRSS once ready; AttachPeak its VmHWM
	// after the attach, Peak after the download.
	IdleRSS, AttachPeak, Peak int64
}

// fileRun stores size random bytes in the files bucket, then has the
// worker bin attach them to a service request by reference and download
// them back, and checks them byte for byte.
func fileRun(ctx context.Context, bin string, size int) (fileRoundTrip, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return fileRoundTrip{}, err
	}
	defer e.Close()
	api, err := soap.New(soap.Config{URL: e.api, User: "admin", Password: "admin"})
	if err != nil {
		return fileRoundTrip{}, err
	}
	defer api.Close()
	add, err := api.Call(ctx, &soap.Request{Op: "ServiceRequestAdd", Params: soap.Struct(soap.Property{Name: "Summary", Value: soap.String("Logs attached")})})
	if err != nil {
		return fileRoundTrip{}, fmt.Errorf("ServiceRequestAdd: %w", err)
	}
	sr, ok := add.Data.Prop("ServiceRequestID")
	if !ok {
		return fileRoundTrip{}, errors.New("ServiceRequestAdd answered no ServiceRequestID")
	}
	store, err := files.Open(ctx, files.Config{JetStream: e.js})
	if err != nil {
		return fileRoundTrip{}, err
	}
	h := sha256.New()
	ref, err := store.Put(ctx, "uploads/bench.bin", io.TeeReader(io.LimitReader(rand.Reader, int64(size)), h))
	if err != nil {
		return fileRoundTrip{}, err
	}
	sum := h.Sum(nil)

	addr, err := freeAddr()
	if err != nil {
		return fileRoundTrip{}, err
	}
	w, err := startWorkerProcess(ctx, bin, addr, "--nats-url", e.url, "--connect-url", e.api, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--log-level", "warn", "--operations", "ServiceRequestAttachFile,ServiceRequestDownloadFile",
		"--local-quota", "--limit", "*="+strconv.Itoa(unlimited), "--shutdown-timeout", "5s")
	if err != nil {
		return fileRoundTrip{}, err
	}
	defer w.stop()
	fail := func(err error) (fileRoundTrip, error) {
		return fileRoundTrip{}, fmt.Errorf("%w; worker log: %s", err, w.logs.String())
	}
	pid := w.cmd.Process.Pid
	f := fileRoundTrip{Bytes: size}
	if f.IdleRSS, _, err = procMemory(pid); err != nil {
		return fail(err)
	}
	inbox := nats.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	call := func(op, id string, fields map[string]any) (contract.Result, time.Duration, error) {
		m, err := commandMsg(op, id, inbox, fields)
		if err != nil {
			return contract.Result{}, 0, err
		}
		began := time.Now()
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			return contract.Result{}, 0, err
		}
		msg, err := sub.NextMsgWithContext(ctx)
		took := time.Since(began)
		if err != nil {
			return contract.Result{}, 0, fmt.Errorf("%s: no result: %w", id, err)
		}
		r, err := contract.DecodeResult(msg.Data)
		if err == nil && r.Code != contract.CodeSuccess {
			err = fmt.Errorf("%s: %s: %s", id, r.Code, r.Error)
		}
		return r, took, err
	}
	r, took, err := call("ServiceRequestAttachFile", "attach-1", map[string]any{
		"ServiceRequestID": sr.Text, "AuthorID": "00000000-0000-4000-8000-000000000001", "Name": "bench.bin", "Hash": fmt.Sprintf("%x", sum),
		"Data": files.Ref{Bucket: ref.Bucket, Name: ref.Name}.Wrap(),
	})
	if err != nil {
		return fail(err)
	}
	f.Attach = took
	fileID, _ := r.Data.(map[string]any)["FileID"].(string)
	if fileID == "" {
		return fail(fmt.Errorf("the attach answered no FileID: %.200v", r.Data))
	}
	if _, f.AttachPeak, err = procMemory(pid); err != nil {
		return fail(err)
	}

	r, took, err = call("ServiceRequestDownloadFile", "download-1", map[string]any{"FileID": fileID})
	if err != nil {
		return fail(err)
	}
	f.Download = took
	if _, f.Peak, err = procMemory(pid); err != nil {
		return fail(err)
	}
	data, _ := r.Data.(map[string]any)
	back, ok, err := files.ParseRef(data["fileData"])
	if err != nil || !ok {
		return fail(fmt.Errorf("the download is not a reference to the bucket (%v): %.200v", err, data["fileData"]))
	}
	rc, err := store.Open(ctx, back)
	if err != nil {
		return fail(err)
	}
	h = sha256.New()
	n, err := io.Copy(h, rc)
	_ = rc.Close()
	if err != nil {
		return fail(err)
	}
	if n != int64(size) || !bytes.Equal(h.Sum(nil), sum) {
		return fail(fmt.Errorf("downloaded %d bytes, not the %d attached byte for byte", n, size))
	}
	return f, nil
}

// commandMsg is a JSON command of op as a producer sends it.
func commandMsg(op, id, replyTo string, fields map[string]any) (*nats.Msg, error) {
	data, err := json.Marshal(map[string]any{"id": id, "fields": fields})
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(contract.CommandPrefix + op)
	m.Data = data
	m.Header.Set(contract.HeaderMsgID, id)
	m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
	m.Header.Set(contract.HeaderReplyTo, replyTo)
	return m, nil
}

// fileLine is line 16.
func (r *runner) fileLine(ctx context.Context) error {
	dir, bin, err := buildWorker(ctx, r.cfg.Root)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := fileRun(ctx, bin, r.cfg.FileBytes)
	if err != nil {
		return err
	}
	size := mib(int64(f.Bytes))
	r.logf("  %s attached in %s, downloaded in %s, peak RSS %s", size, f.Attach.Round(time.Millisecond), f.Download.Round(time.Millisecond), mib(f.Peak))
	r.add(Row{Line: "16a", Metric: fmt.Sprintf("a %s file attached to a service request from an Object Store reference (publish → result)", size),
		Value: fmt.Sprintf("%s (%.1f MB/s)", f.Attach.Round(time.Millisecond), float64(f.Bytes)/(1<<20)/f.Attach.Seconds())})
	r.add(Row{Line: "16b", Metric: "the same file downloaded back, stored in the bucket as a reference (publish → result)",
		Value: fmt.Sprintf("%s (%.1f MB/s); byte for byte", f.Download.Round(time.Millisecond), float64(f.Bytes)/(1<<20)/f.Download.Seconds())})
	r.add(Row{Line: "16c", Metric: "worker process RSS: peak (VmHWM) after the attach",
		Value:  fmt.Sprintf("%s (idle %s)", mib(f.AttachPeak), mib(f.IdleRSS)),
		Target: fmt.Sprintf("≤ %s", mib(attachRSSBound)), Met: met(f.AttachPeak <= attachRSSBound)})
	r.add(Row{Line: "16d", Metric: "worker process RSS: peak (VmHWM) after the download",
		Value:  mib(f.Peak),
		Target: fmt.Sprintf("≤ %s", mib(fileRSSBound)), Met: met(f.Peak <= fileRSSBound)})
	r.note("16", "Line 16: %s of random bytes stored in CONNECT_FILES (files.Store.Put), a service request made in the sandbox; the real worker binary as a child process serving ServiceRequestAttachFile and ServiceRequestDownloadFile, local quota with limits off. A ServiceRequestAttachFile command whose Data is {\"$object\": {bucket, name}}: the worker streams the object from the bucket into the request as base64 (%s of XML); then a ServiceRequestDownloadFile command, whose answer (the file as base64) the worker decodes and stores in the bucket, answering with a reference, which the harness reads back and compares by SHA-256. Times are from the command's publish to its result on the reply subject, and include the sandbox's own decoding and encoding of the base64 in this process (on the same cores). Peaks are VmHWM read after each result; the bounds are those TestFileThroughTheObjectStore (cmd/worker) holds the worker to.",
		size, mib(int64(f.Bytes)*4/3))
	return nil
}
