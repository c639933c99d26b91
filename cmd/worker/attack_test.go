package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/contracttest"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/proctest"
)

// attack is one hostile command.
type attack struct {
	name    string
	subject string // defaults to connect.cmd.ClientUserEdit
	id      string // its Nats-Msg-Id; the result carries it ("" when refused)
	replyTo string
	ctype   string
	payload []byte
	code    string // the final result it must get
	dlq     bool   // whether it must also be dead-lettered
}

// The secrets the test looks for in everything the worker writes.
const (
	apiPassword  = "api-Pass-7Hq2"
	cmdPassword  = "pw-Cmd" // + i: the valid commands' Password values
	atkPassword1 = "atkSecret1"
	atkPassword2 = "an-attack-secret-far-too-long-Zz9"
)

// TestHostileProducersCannotHurtTheWorker publishes every attack the issue
// lists, interleaved with 1,000 valid commands, to a worker process that
// runs under an address-space limit of 1 GiB, with 150 commands of about
// 1 MB held for an operation that may make no call: the process never
// dies, every valid command gets its one SUCCESS, every attack its final
// result (and dead letter where due), no reply subject changes the quota
// ledger, the outcome bucket or the streams, the process's RSS stays under
// its byte budget, and no secret appears in its logs (at debug level),
// results or dead letters.
func TestHostileProducersCannotHurtTheWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a worker process")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed: it sets the worker's address-space limit")
	}
	bin := buildWorker(t)
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{Password: apiPassword})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(1000)
	httpAddr := freeAddr(t)

	const processBytes = 192 << 20
	args := []string{"--as=" + strconv.Itoa(1<<30), "--", bin,
		"--nats-url", srv.ClientURL(),
		"--connect-url", hs.URL + emulator.Path, "--connect-user", "admin",
		"--http-listen", httpAddr, "--max-wait", "50ms", "--log-level", "debug",
		"--limit", "*=100000", "--limit", "ServiceRequestAttachFile=0", "--quota-guard", "-1s", "--quota-reserve", "0",
		"--process-bytes", strconv.Itoa(processBytes),
	}
	w := proctest.Start(t, prlimit, args, []string{"CONNECT_PASSWORD=" + apiPassword})
	w.WaitOutput(t, "worker started", time.Minute)

	inbox := nats.NewInbox()
	res := contracttest.Collect(t, nc, inbox)

	ctx := context.Background()
	// The quota's window: an hour, clock-aligned in Moscow time (UTC+3),
	// so on the hour.
	window := time.Now().Truncate(time.Hour).Unix()
	attacks := attacks(inbox, window)

	// Memory: 150 commands of about 1 MB for an operation that may make no
	// call (its limit is 0), so they are held until the end.
	big := bytes.Repeat([]byte("A"), 700<<10)
	for i := range 150 {
		publishAsync(t, js, "ServiceRequestAttachFile", fmt.Sprint("big-", i), "", map[string]any{
			"ServiceRequestID": fmt.Sprint("sr-", i), "AuthorID": users[i], "Name": "f.bin", "Hash": "h",
			"Data": base64.StdEncoding.EncodeToString(big),
		})
	}
	// RSS, sampled while everything flows.
	var rssMu sync.Mutex
	var maxRSS float64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := scrapeGauge("http://"+httpAddr+"/metrics", "process_resident_memory_bytes"); err == nil {
				rssMu.Lock()
				maxRSS = max(maxRSS, v)
				rssMu.Unlock()
			}
			select {
			case <-stopRSS:
				return
			case <-tick.C:
			}
		}
	}()

	for i, u := range users {
		publishAsync(t, js, "ClientUserEdit", fmt.Sprint("valid-", i), inbox, map[string]any{
			"ClientUserID": u, "Name": fmt.Sprint("N", i), "Password": fmt.Sprint(cmdPassword, i), "Phone": "1", "EMail": "e@x.ru",
		})
		if i%(len(users)/len(attacks)) == 0 && i/(len(users)/len(attacks)) < len(attacks) {
			a := attacks[i/(len(users)/len(attacks))]
			m := nats.NewMsg(cmp.Or(a.subject, contract.CommandPrefix+"ClientUserEdit"))
			m.Data = a.payload
			if a.id != "" {
				m.Header.Set(contract.HeaderMsgID, a.id)
			}
			if a.replyTo != "" {
				m.Header.Set(contract.HeaderReplyTo, a.replyTo)
			}
			if a.ctype != "" {
				m.Header.Set(contract.HeaderContentType, a.ctype)
			}
			_, err := js.PublishMsg(ctx, m)
			require.NoError(t, err, a.name)
		}
	}

	// A command larger than the stream accepts is refused at the door:
	// the producer's publish fails and says why.
	tooBig := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
	tooBig.Data = bytes.Repeat([]byte{'#'}, 2<<20)
	_, err = js.PublishMsg(ctx, tooBig)
	require.ErrorContains(t, err, "message size exceeds maximum")

	// Every valid command and every attack with a readable id gets its
	// result on the reply inbox; the rest are read from the result stream.
	replied := res.Wait(t, len(users)+countWithReply(attacks, inbox), 2*time.Minute)
	stored := resultsInStream(t, js)
	require.Eventually(t, func() bool {
		stored = resultsInStream(t, js)
		return len(stored) >= len(users)+len(attacks)
	}, time.Minute, 100*time.Millisecond, "every command's result is in the result stream")
	close(stopRSS)
	<-rssDone

	require.Nil(t, w.Cmd.ProcessState, "the worker is still running")
	for i := range users {
		rs := replied[fmt.Sprint("valid-", i)]
		require.Len(t, rs, 1, "valid-%d: one result", i)
		require.Equal(t, contract.CodeSuccess, rs[0].Code, "valid-%d: %s", i, rs[0].Error)
	}
	byID := map[string][]contract.Result{}
	for _, r := range stored {
		byID[r.ID] = append(byID[r.ID], r)
	}
	dlq := deadLetters(t, js)
	for _, a := range attacks {
		id := a.id
		if contract.ValidID(id) != nil {
			id = "" // refused as an id: the result has none
		}
		rs := byID[id]
		require.NotEmpty(t, rs, "%s: a final result", a.name)
		codes := map[string]bool{}
		for _, r := range rs {
			codes[r.Code] = true
		}
		require.True(t, codes[a.code], "%s: want %s, got %v", a.name, a.code, rs)
		if a.dlq {
			require.Positive(t, dlq[id], "%s: a dead letter", a.name)
		}
	}

	// The ledger counts exactly the calls the sandbox saw: no reply reset
	// it. (The run may straddle the hour: every window's key counts.)
	kv, err := js.KeyValue(ctx, "CONNECT_QUOTA")
	require.NoError(t, err)
	keys, err := kv.ListKeys(ctx, jetstream.MetaOnly())
	require.NoError(t, err)
	used := 0
	for k := range keys.Keys() {
		if !strings.HasPrefix(k, "op.ClientUserEdit.") {
			continue
		}
		entry, err := kv.Get(ctx, k)
		require.NoError(t, err)
		var ledger struct {
			Used int `json:"used"`
		}
		require.NoError(t, json.Unmarshal(entry.Value(), &ledger), "the ledger key holds a ledger entry: %q", entry.Value())
		used += ledger.Used
	}
	require.Equal(t, emu.Stats().Calls["ClientUserEdit"], used, "calls granted = calls made")
	// The outcome a reply subject aimed at is intact.
	out, err := js.KeyValue(ctx, contract.OutcomeBucket)
	require.NoError(t, err)
	rec, err := out.Get(ctx, contract.OutcomeKey("ClientUserEdit", "valid-0"))
	require.NoError(t, err)
	o, err := contract.DecodeOutcome(rec.Value())
	require.NoError(t, err)
	require.Equal(t, contract.StateFinal, o.State)
	_, err = js.Stream(ctx, contract.CommandStream)
	require.NoError(t, err, "the command stream still exists")

	// The budget held some of the large commands and left the rest in the
	// stream.
	held, err := scrapeGauge("http://"+httpAddr+"/metrics", `connect_worker_queue_depth{op="ServiceRequestAttachFile"}`)
	require.NoError(t, err)
	require.Positive(t, held)
	require.Less(t, held, 150.0, "the byte budget leaves large commands in the stream")
	rssMu.Lock()
	t.Logf("peak RSS %.0f MiB (byte budget %d MiB); %.0f of 150 large commands held", maxRSS/(1<<20), processBytes>>20, held)
	require.Less(t, maxRSS, float64(processBytes), "RSS stays under the byte budget")
	rssMu.Unlock()

	// No secret anywhere the worker writes.
	var written strings.Builder
	for _, r := range stored {
		b, _ := json.Marshal(r)
		written.Write(b)
	}
	for _, m := range deadLetterMsgs(t, js) {
		written.Write(m.Data)
		for k, vs := range m.Header {
			written.WriteString(k + strings.Join(vs, ","))
		}
	}
	require.NoError(t, w.Cmd.Process.Signal(os.Interrupt))
	require.NoError(t, w.Cmd.Wait(), "a clean exit")
	logs := w.Out.String()
	require.Contains(t, logs, `"level":"debug"`, "debug logs were written")
	for _, secret := range []string{apiPassword, cmdPassword, atkPassword1, atkPassword2} {
		require.NotContains(t, logs, secret, "a secret in the logs")
		require.NotContains(t, written.String(), secret, "a secret in the results or dead letters")
	}

	// -h with every secret in the environment prints none of them.
	help := exec.Command(bin, "-h")
	help.Env = append(os.Environ(), "CONNECT_PASSWORD="+apiPassword, "NATS_PASSWORD="+atkPassword1, "NATS_TOKEN="+atkPassword2,
		"NATS_URL=nats://u:"+cmdPassword+"@127.0.0.1:1")
	text, _ := help.CombinedOutput()
	require.Contains(t, string(text), "-connect-password")
	for _, secret := range []string{apiPassword, cmdPassword, atkPassword1, atkPassword2} {
		require.NotContains(t, string(text), secret, "-h shows a secret")
	}
}

// attacks lists the hostile commands.
func attacks(inbox string, window int64) []attack {
	valid := func(id string) []byte {
		b, _ := json.Marshal(map[string]any{"id": id, "fields": map[string]any{
			"ClientUserID": "00000000-0000-4000-8000-000000000001", "Name": "x", "Password": atkPassword1, "Phone": "1", "EMail": "e@x.ru",
		}})
		return b
	}
	msgpackWith := func(id string, fields []byte) []byte {
		// {"id": id, "fields": {"Name": <fields>}}
		var b bytes.Buffer
		b.WriteByte(0x82)
		b.Write([]byte{0xa2, 'i', 'd'})
		b.WriteByte(0xa0 | byte(len(id)))
		b.WriteString(id)
		b.Write([]byte{0xa6, 'f', 'i', 'e', 'l', 'd', 's', 0x81, 0xa4, 'N', 'a', 'm', 'e'})
		b.Write(fields)
		return b.Bytes()
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	huge := bytes.Repeat([]byte{'#'}, 1<<20-16<<10) // at the command stream's max message size (1 MiB), less the headers
	return []attack{
		{name: "msgpack map32 bomb", id: "atk-map32", replyTo: inbox, payload: []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a'}, code: contract.CodeInvalidCommand, dlq: true},
		{name: "msgpack array32 bomb", id: "atk-array32", replyTo: inbox, payload: []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, code: contract.CodeInvalidCommand, dlq: true},
		{name: "msgpack str32 bomb", id: "atk-str32", replyTo: inbox, payload: []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, code: contract.CodeInvalidCommand, dlq: true},
		{name: "msgpack bin32 bomb", id: "atk-bin32", replyTo: inbox, payload: []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}, code: contract.CodeInvalidCommand, dlq: true},
		{name: "msgpack bomb inside fields", id: "atk-nested", replyTo: inbox, payload: msgpackWith("atk-nested", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}), code: contract.CodeInvalidCommand, dlq: true},
		{name: "msgpack map16 bomb inside fields", id: "atk-nested16", replyTo: inbox, ctype: contract.ContentTypeMsgPack, payload: msgpackWith("atk-nested16", []byte{0xde, 0xff, 0xff}), code: contract.CodeInvalidCommand, dlq: true},
		{name: "5 KB reply subject", id: "atk-reply5k", replyTo: "_INBOX." + strings.Repeat("r", 5<<10), payload: valid("atk-reply5k"), code: contract.CodeReplyRefused},
		{name: "unreadable payload, 5 KB message id", id: strings.Repeat("i", 5<<10), replyTo: inbox, payload: []byte("not a command"), code: contract.CodeInvalidCommand, dlq: true},
		{name: "3.8 KB unknown operation", subject: contract.CommandPrefix + strings.Repeat("Op", 1900), id: "atk-op4k", replyTo: inbox, payload: valid("atk-op4k"), code: contract.CodeUnknownOperation, dlq: true},
		{name: "reply to the quota ledger", id: "atk-quota", replyTo: fmt.Sprintf("$KV.CONNECT_QUOTA.op.ClientUserEdit.%d", window), payload: valid("atk-quota"), code: contract.CodeReplyRefused},
		{name: "reply to an outcome", id: "atk-outcome", replyTo: "$KV." + contract.OutcomeBucket + "." + contract.OutcomeKey("ClientUserEdit", "valid-0"), payload: valid("atk-outcome"), code: contract.CodeReplyRefused},
		{name: "reply to the JetStream API", id: "atk-jsapi", replyTo: "$JS.API.STREAM.DELETE." + contract.CommandStream, payload: valid("atk-jsapi"), code: contract.CodeReplyRefused},
		{name: "reply to the command stream", id: "atk-cmd", replyTo: contract.CommandPrefix + "ClientUserEdit", payload: valid("atk-cmd"), code: contract.CodeReplyRefused},
		{name: "reply to the result stream", id: "atk-result", replyTo: contract.ResultPrefix + "ClientUserEdit", payload: valid("atk-result"), code: contract.CodeReplyRefused},
		{name: "payload at the largest size", id: "atk-huge", replyTo: inbox, payload: huge, code: contract.CodeInvalidCommand, dlq: true},
		{name: "invalid UTF-8", id: "atk-utf8", replyTo: inbox, payload: []byte("{\"id\":\"atk-utf8\xff\",\"fields\":{}}"), code: contract.CodeInvalidCommand, dlq: true},
		{name: "deep nesting", id: "atk-deep", replyTo: inbox, payload: []byte(`{"id":"atk-deep","fields":{"Name":` + deep + `}}`), code: contract.CodeInvalidCommand, dlq: true},
		{name: "plain text", id: "atk-text", replyTo: inbox, payload: []byte("hello worker"), code: contract.CodeInvalidCommand, dlq: true},
		{name: "a Cyrillic field name", subject: contract.CommandPrefix + "ServiceKindRead", id: "atk-cyrillic", replyTo: inbox,
			payload: []byte(`{"id":"atk-cyrillic","fields":{"Имя":"x"}}`), code: contract.CodeSuccess},
		{name: "a Password of the wrong type", id: "atk-pwtype", replyTo: inbox,
			payload: []byte(`{"id":"atk-pwtype","fields":{"ClientUserID":"00000000-0000-4000-8000-000000000001","Name":"x","Password":["` + atkPassword1 + `"]}}`), code: contract.CodeInvalidFields},
		{name: "a Password too long", id: "atk-pwlong", replyTo: inbox,
			payload: []byte(`{"id":"atk-pwlong","fields":{"ClientUserID":"00000000-0000-4000-8000-000000000001","Name":"x","Password":"` + atkPassword2 + `"}}`), code: contract.CodeInvalidFields},
	}
}

// countWithReply counts the attacks whose result reaches the inbox: a
// readable id and an allowed reply subject.
func countWithReply(as []attack, inbox string) int {
	n := 0
	for _, a := range as {
		if a.replyTo == inbox && len(a.id) <= contract.MaxIDLength {
			n++
		}
	}
	return n
}

// publishAsync publishes a JSON command without waiting for the stream's
// acknowledgement.
func publishAsync(t *testing.T, js jetstream.JetStream, op, id, replyTo string, fields map[string]any) {
	t.Helper()
	_, err := js.PublishMsgAsync(contracttest.Command(t, op, id, replyTo, fields))
	require.NoError(t, err)
}

// resultsInStream reads every result stored in the result stream.
func resultsInStream(t *testing.T, js jetstream.JetStream) []contract.Result {
	t.Helper()
	var out []contract.Result
	for _, m := range streamMsgs(t, js, contract.ResultStream) {
		r, err := contract.DecodeResult(m.Data)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// deadLetters counts the dead letters per command id (from the result
// code's id: the dead letter's own id names the command).
func deadLetters(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range deadLetterMsgs(t, js) {
		// dlq.<op>.<base64url id>.<batch>.<stream seq>
		parts := strings.Split(m.Header.Get(contract.HeaderMsgID), ".")
		if len(parts) != 5 {
			continue
		}
		if id, err := base64.RawURLEncoding.DecodeString(parts[2]); err == nil {
			out[string(id)]++
		}
	}
	return out
}

func deadLetterMsgs(t *testing.T, js jetstream.JetStream) []*nats.Msg {
	return streamMsgs(t, js, contract.DLQStream)
}

// streamMsgs reads every message of a stream, in order.
func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) []*nats.Msg {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out []*nats.Msg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		out = append(out, &nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
	}
	return out
}

// buildWorker builds the worker binary without the race detector (whose
// shadow memory no address-space limit would allow).
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// scrapeGauge reads one unlabelled sample from a Prometheus text page.
func scrapeGauge(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not in %s", name, url)
}
