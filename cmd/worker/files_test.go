package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/proctest"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// fileRSSBound is the most the worker's peak RSS may reach while it
// attaches and downloads a 20 MB file: about the base64 of the
// downloaded file twice (the answer's text, decoded), and the process's
// own 30 MB. The attached file is streamed and counts for nothing.
const fileRSSBound = 160 << 20

// attachRSSBound is the most it may reach after attaching alone: the file
// is streamed from the bucket into the request, never held.
const attachRSSBound = 64 << 20

// TestFileThroughTheObjectStore attaches a 20 MB file to a service request
// from an Object Store reference and downloads it back, through the real
// worker process: the file arrives byte for byte, the downloaded one comes
// back as a reference to an object of the files bucket, the worker's peak
// RSS stays under fileRSSBound, and a reference to a missing object, or to
// another bucket, gets a clear INVALID_FIELDS.
func TestFileThroughTheObjectStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)

	// A service request to attach to, made directly in the sandbox.
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	add, err := api.Call(ctx, &soap.Request{Op: "ServiceRequestAdd", Params: soap.Struct(soap.Property{Name: "Summary", Value: soap.String("Logs attached")})})
	require.NoError(t, err)
	sr, ok := add.Data.Prop("ServiceRequestID")
	require.True(t, ok)

	store, err := files.Open(ctx, files.Config{JetStream: js})
	require.NoError(t, err)
	const size = 20 << 20
	h := sha256.New()
	ref, err := store.Put(ctx, "uploads/logs.zip", io.TeeReader(io.LimitReader(rand.Reader, size), h))
	require.NoError(t, err)
	sum := h.Sum(nil)

	// The binary without the race detector, whose shadow memory would
	// hide what the worker itself holds.
	w := proctest.Start(t, buildWorker(t), []string{"--nats-url", srv.ClientURL(), "--connect-url", hs.URL + emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", freeAddr(t), "--operations", "ServiceRequestAttachFile,ServiceRequestDownloadFile", "--local-quota"}, nil)
	w.WaitOutput(t, "worker started", time.Minute)
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	result := func() contract.Result {
		t.Helper()
		m, err := sub.NextMsg(time.Minute)
		require.NoError(t, err)
		r, err := contract.DecodeResult(m.Data)
		require.NoError(t, err)
		return r
	}
	author := "00000000-0000-4000-8000-000000000001"
	attach := func(id string, data any) contract.Result {
		t.Helper()
		publishAsync(t, js, "ServiceRequestAttachFile", id, inbox, map[string]any{
			"ServiceRequestID": sr.Text, "AuthorID": author, "Name": "logs.zip", "Hash": fmt.Sprintf("%x", sum), "Data": data,
		})
		return result()
	}

	// A reference as a producer writes it: bucket and name.
	r := attach("attach-1", map[string]any{files.Key: map[string]any{"bucket": files.DefaultBucket, "name": ref.Name}})
	require.Equal(t, contract.CodeSuccess, r.Code, r.Error)
	fileID, _ := r.Data.(map[string]any)["FileID"].(string)
	require.NotEmpty(t, fileID, "the API's answer: %v", r.Data)
	attachPeak := vmHWM(t, w.Cmd.Process.Pid)
	t.Logf("worker peak RSS (VmHWM) after attaching %d MiB: %.1f MiB", size>>20, float64(attachPeak)/(1<<20))
	require.Less(t, attachPeak, int64(attachRSSBound), "the attached file is streamed, never held")

	publishAsync(t, js, "ServiceRequestDownloadFile", "download-1", inbox, map[string]any{"FileID": fileID})
	r = result()
	require.Equal(t, contract.CodeSuccess, r.Code, r.Error)
	data, _ := r.Data.(map[string]any)
	back, ok, err := files.ParseRef(data["fileData"])
	require.NoError(t, err)
	require.True(t, ok, "fileData is a reference: %.200v", data["fileData"])
	require.Equal(t, int64(size), back.Size)
	require.Equal(t, files.DefaultBucket, back.Bucket)
	require.Equal(t, "results/ServiceRequestDownloadFile/download-1/fileData", back.Name)
	rc, err := store.Open(ctx, back)
	require.NoError(t, err)
	h = sha256.New()
	n, err := io.Copy(h, rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, int64(size), n)
	require.Equal(t, sum, h.Sum(nil), "downloaded byte for byte")

	peak := vmHWM(t, w.Cmd.Process.Pid)
	t.Logf("worker peak RSS (VmHWM) after attaching and downloading %d MiB: %.1f MiB (bound %d MiB)", size>>20, float64(peak)/(1<<20), fileRSSBound>>20)
	require.Less(t, peak, int64(fileRSSBound))

	// References that fail their check: one INVALID_FIELDS each, naming
	// the field and the object; nothing is sent.
	calls := emu.Stats().Calls["ServiceRequestAttachFile"]
	for id, c := range map[string]struct {
		data any
		want string
	}{
		"missing":      {map[string]any{files.Key: map[string]any{"bucket": files.DefaultBucket, "name": "uploads/nope.zip"}}, `Data: object "uploads/nope.zip" of bucket CONNECT_FILES: no such object`},
		"other-bucket": {map[string]any{files.Key: map[string]any{"bucket": "KV_CONNECT_QUOTA", "name": "op.x"}}, "not the files bucket"},
		"malformed":    {map[string]any{files.Key: "uploads/logs.zip"}, "malformed object reference"},
		"changed":      {map[string]any{files.Key: map[string]any{"bucket": files.DefaultBucket, "name": ref.Name, "digest": "SHA-256=AAAA"}}, "object changed since the reference was made"},
	} {
		r := attach("attach-"+id, c.data)
		require.Equal(t, contract.CodeInvalidFields, r.Code, id)
		require.Contains(t, r.Error, c.want, id)
		require.Len(t, r.Fields, 1, id)
		require.Equal(t, "Data", r.Fields[0].Field, id)
	}
	require.Equal(t, calls, emu.Stats().Calls["ServiceRequestAttachFile"], "no call for a bad reference")
}

// vmHWM reads a process's peak resident set size.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestColleaguesChatUnpacked: a GetHistoryOfColleaguesChat command's
// answer, a base64 ZIP of HTML files, comes back as one object per file,
// named by day and pair, each holding the file the sandbox made.
func TestColleaguesChatUnpacked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{SeedHistory: 10, Seed: 3})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	w := startWorker(t, "--nats-url", srv.ClientURL(), "--connect-url", hs.URL+emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", freeAddr(t), "--operations", "GetHistoryOfColleaguesChat", "--local-quota")
	w.WaitOutput(t, "worker started", time.Minute)
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)

	// A whole day, in the account's zone (Moscow).
	msk, err := time.LoadLocation("Europe/Moscow")
	require.NoError(t, err)
	y, m, d := time.Now().In(msk).Date()
	var from, to time.Time
	for back := 1; back < 10; back++ { // a day on which colleagues chatted
		from = time.Date(y, m, d-back, 0, 0, 0, 0, msk)
		to = from.AddDate(0, 0, 1)
		if len(emu.ColleaguesChat(from, to)) > 0 {
			break
		}
	}
	publishAsync(t, js, "GetHistoryOfColleaguesChat", "chat-1", inbox, map[string]any{
		"PeriodFrom": from.Format("2006-01-02T15:04:05"), "PeriodTo": to.Format("2006-01-02T15:04:05"),
	})
	msg, err := sub.NextMsg(time.Minute)
	require.NoError(t, err)
	r, err := contract.DecodeResult(msg.Data)
	require.NoError(t, err)
	require.Equal(t, contract.CodeSuccess, r.Code, r.Error)

	want := emu.ColleaguesChat(from, to)
	require.NotEmpty(t, want)
	list, ok := r.Data.([]any)
	require.True(t, ok, "a list of files: %.300v", r.Data)
	require.Len(t, list, len(want))
	store, err := files.Existing(ctx, files.Config{JetStream: js})
	require.NoError(t, err)
	for _, item := range list {
		f := item.(map[string]any)
		name := f["name"].(string)
		ref, ok, err := files.ParseRef(f["file"])
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, files.ArchiveName("results/GetHistoryOfColleaguesChat/chat-1/", name), ref.Name)
		require.Contains(t, ref.Name, from.Format("2006-01-02")+"/", "named by day, then pair")
		rc, err := store.Open(ctx, ref)
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, want[name], string(body), name)
	}
}
