package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Large payloads and the files bucket (Config.Files, package files).
//
// Into the service: a command's binary field may be a reference to an
// object, {"$object": {"bucket", "name"}}. Decoding reads the reference
// only (no I/O: decoding is synchronous and must not wait on NATS); the
// call checks it (the object exists, is not too large, still has the
// reference's digest) just before the request is written, and the soap
// client streams it into the request, base64-encoded, never holding it
// whole. A reference that fails the check ends its command with
// INVALID_FIELDS naming the field and the object; a bucket that does not
// answer makes the call fail like an unreachable API, and it is tried
// again.
//
// Out of the service: a result whose data does not fit in a NATS message
// has its data stored in the bucket and carries a reference instead: a
// downloaded file (fileData) as the file's bytes, anything else as the
// JSON of the data. RESULT_TOO_LARGE remains for data larger than the
// bucket takes.

// objectPutTimeout bounds storing one large result.
const objectPutTimeout = 2 * time.Minute

// pendingRef is a producer's reference read by decoding and not checked
// yet: Stat turns it into a files.Blob before the call.
type pendingRef struct{ ref files.Ref }

// Size is unknown until the reference is checked.
func (p pendingRef) Size() int64 { return -1 }

// Open refuses: an unchecked reference is never sent.
func (p pendingRef) Open(context.Context) (io.ReadCloser, error) {
	return nil, fmt.Errorf("%s not checked before the call", p.ref)
}

// fieldLimits are the catalogue's limits of a command's fields, with
// references to stored objects read where binary fields take them.
func (w *Worker) fieldLimits() catalog.FieldLimits {
	return catalog.FieldLimits{MaxUnknownBytes: w.cfg.MaxFieldBytes, Objects: w.objectField}
}

// objectField reads a field that may be a reference to a stored object.
func (w *Worker) objectField(v any) (soap.Value, string, bool) {
	ref, ok, err := files.ParseRef(v)
	switch {
	case !ok:
		return soap.Value{}, "", false
	case err != nil:
		return soap.Value{}, err.Error(), true
	case w.cfg.Files == nil:
		return soap.Value{}, "a reference to a stored object, but this worker has no files bucket", true
	case ref.Bucket != w.cfg.Files.Bucket():
		return soap.Value{}, fmt.Sprintf("%s: %v (%s)", ref, files.ErrOtherBucket, w.cfg.Files.Bucket()), true
	}
	return soap.Stream(pendingRef{ref: ref}), "", true
}

// refusal is a command taken out of a packet before its call, with why.
type refusal struct {
	it     batcher.Item[*entry]
	reason string
	// field is the field whose reference failed, problem what failed.
	field, problem string
}

// resolveObjects checks the object references of a packet's commands. It
// returns the commands to send, each with its properties (references
// turned into blobs to stream), and those refused for a reference that
// failed its check. err is a failure of the bucket itself: nothing is
// decided, the call is tried again.
func (l *lane) resolveObjects(ctx context.Context, items []batcher.Item[*entry]) (kept []batcher.Item[*entry], props [][]soap.Property, refused []refusal, err error) {
	for _, it := range items {
		ps := it.Value.props
		var copied bool
		var problem string
		var field string
		for j, p := range ps {
			pr, isRef := p.Value.Blob.(pendingRef)
			if !isRef {
				continue
			}
			ref, err := l.w.cfg.Files.Stat(ctx, pr.ref)
			if err != nil {
				if isRefProblem(err) {
					field, problem = p.Name, err.Error()
					break
				}
				return nil, nil, nil, err
			}
			if !copied {
				ps, copied = append([]soap.Property(nil), ps...), true
			}
			ps[j].Value = soap.Stream(l.w.cfg.Files.Blob(ref))
		}
		if problem != "" {
			refused = append(refused, refusal{it: it, reason: field + ": " + problem, field: field, problem: problem})
			continue
		}
		kept, props = append(kept, it), append(props, ps)
	}
	return kept, props, refused, nil
}

// isRefProblem reports whether err is the reference's fault, not the
// bucket's.
func isRefProblem(err error) bool {
	return errors.Is(err, files.ErrNotFound) || errors.Is(err, files.ErrTooLarge) ||
		errors.Is(err, files.ErrOtherBucket) || errors.Is(err, files.ErrChanged)
}

// hasRefs reports whether any command of items carries a reference.
func hasRefs(items []batcher.Item[*entry]) bool {
	for _, it := range items {
		for _, p := range it.Value.props {
			if _, ok := p.Value.Blob.(pendingRef); ok {
				return true
			}
		}
	}
	return false
}

// storeLarge stores the data of a result too large for a message in the
// files bucket and puts a reference in its place: a downloaded file's
// fileData as the file, other data as its JSON. It returns false when
// there is no bucket, or the data is too large for it.
func (f *finisher) storeLarge(fn *final) (bool, error) {
	store := f.w.cfg.Files
	if store == nil || fn.result.ID == "" {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectPutTimeout)
	defer cancel()
	prefix := "results/" + fn.e.op + "/" + fn.result.ID + "/"
	put := func(name string, r io.Reader) (files.Wrapped, bool, error) {
		ref, err := store.Put(ctx, prefix+name, r)
		if errors.Is(err, files.ErrTooLarge) {
			return files.Wrapped{}, false, nil
		}
		if err != nil {
			return files.Wrapped{}, false, fmt.Errorf("store large result: %w", err)
		}
		return ref.Wrap(), true, nil
	}
	if m, isMap := fn.result.Data.(map[string]any); isMap {
		if text, isText := m["fileData"].(string); isText {
			w, ok, err := put("fileData", base64.NewDecoder(base64.StdEncoding, strings.NewReader(text)))
			if err != nil || !ok {
				return false, err
			}
			data := make(map[string]any, len(m))
			for k, v := range m {
				data[k] = v
			}
			data["fileData"] = w
			fn.result.Data = data
			if payload, err := contract.EncodeResult(fn.e.format, fn.result); err == nil && int64(len(payload)) <= f.limit() {
				fn.payload = payload
				return true, nil
			}
		}
	}
	raw, err := json.Marshal(fn.result.Data)
	if err != nil {
		return false, nil
	}
	w, ok, err := put("data.json", bytes.NewReader(raw))
	if err != nil || !ok {
		return false, err
	}
	fn.result.Data = w
	fn.payload, err = contract.EncodeResult(fn.e.format, fn.result)
	return err == nil, nil
}

// unpackArchive stores the files of an archive answer (the colleagues'
// chat history: a base64 ZIP of HTML files) as objects of their own,
// under results/<op>/<id>/, and puts their list in the result's data:
// [{"name": <name in the archive>, "file": {"$object": …}}]. An answer
// that is not a readable archive is left as it is, and logged.
func (f *finisher) unpackArchive(fn *final) error {
	store := f.w.cfg.Files
	if store == nil || fn.result.ID == "" || fn.result.Code != contract.CodeSuccess || fn.e.cat == nil {
		return nil
	}
	if p, ok := fn.e.cat.Period(); !ok || !p.Archive {
		return nil
	}
	text, isText := fn.result.Data.(string)
	if !isText {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		f.w.log.Warn().Str("op", fn.e.op).Str("id", fn.result.ID).Msg("the archive the API answered is not base64; passed on as it is")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectPutTimeout)
	defer cancel()
	got, err := store.Unpack(ctx, "results/"+fn.e.op+"/"+fn.result.ID+"/", raw, 0)
	if errors.Is(err, files.ErrArchive) {
		f.w.log.Warn().Err(err).Str("op", fn.e.op).Str("id", fn.result.ID).Msg("the archive the API answered cannot be unpacked; passed on as it is")
		return nil
	}
	if err != nil {
		return fmt.Errorf("unpack archive: %w", err)
	}
	list := make([]map[string]any, len(got))
	for i, u := range got {
		list[i] = map[string]any{"name": u.Name, "file": u.Ref.Wrap()}
	}
	fn.result.Data = list
	return nil
}
