package worker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// publishRaw sends a payload as it is.
func publishRaw(t *testing.T, js jetstream.JetStream, subject, msgID, replyTo string, data []byte) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if msgID != "" {
		m.Header.Set(contract.HeaderMsgID, msgID)
	}
	m.Header.Set(contract.HeaderReplyTo, replyTo)
	_, err := js.PublishMsg(context.Background(), m)
	require.NoError(t, err)
}

func TestBadCommandsNeverHoldUpGoodOnes(t *testing.T) {
	t.Parallel()
	b := setup(t, options{worker: func(c *worker.Config) {
		// Only a full packet goes before a minute: the bad commands must be
		// answered long before that, on their own.
		c.Defaults.MaxWait = worker.Duration(time.Minute)
	}})
	users := b.emu.SeedClientUsers(98)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)

	publishRaw(t, b.js, contract.CommandPrefix+"ClientUserEdit", "garbage", inbox, []byte("\xc1 not a command"))
	publishRaw(t, b.js, contract.CommandPrefix+"ClientUserEdit", "no-id", inbox, []byte(`{"fields":{}}`))
	publish(t, b.js, "NoSuchOperation", "unknown-op", inbox, map[string]any{"X": 1})
	long := userFields(users[0], 0)
	long["Name"] = strings.Repeat("Я", 21)
	delete(long, "EMail")
	publish(t, b.js, "ClientUserEdit", "invalid-fields", inbox, long)

	early := col.Wait(t, 4, 30*time.Second)
	require.Equal(t, contract.CodeInvalidCommand, early["garbage"][0].Code)
	require.Contains(t, early["garbage"][0].Error, "msgpack")
	require.Equal(t, contract.CodeInvalidCommand, early["no-id"][0].Code)
	require.Contains(t, early["no-id"][0].Error, `no "id"`)
	require.Equal(t, contract.CodeUnknownOperation, early["unknown-op"][0].Code)
	require.Equal(t, "NoSuchOperation", early["unknown-op"][0].Op)
	inv := early["invalid-fields"][0]
	require.Equal(t, contract.CodeInvalidFields, inv.Code)
	require.Contains(t, inv.Error, "EMail")
	require.Contains(t, inv.Error, "Name")
	require.Zero(t, b.emu.Stats().Calls["ClientUserEdit"], "bad commands never reach the API")

	// 98 good commands and 2 the API rejects make one full packet.
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("good-", i), inbox, userFields(u, i))
	}
	publish(t, b.js, "ClientUserEdit", "missing-user", inbox, userFields("11111111-1111-4111-8111-111111111111", 1))
	publish(t, b.js, "ClientUserEdit", "missing-user-2", inbox, userFields("22222222-2222-4222-8222-222222222222", 2))
	all := col.Wait(t, 104, 30*time.Second)
	for i := range users {
		r := all[fmt.Sprint("good-", i)]
		require.Len(t, r, 1)
		require.Equal(t, "SUCCESS", r[0].Code)
		require.Equal(t, 100, r[0].Rows)
	}
	for _, id := range []string{"missing-user", "missing-user-2"} {
		r := all[id][0]
		require.Equal(t, emulator.CodeObjectNotFound, r.Code, "the API's own code")
		require.NotEmpty(t, r.Error)
	}
	require.Equal(t, 99, all["missing-user"][0].Row)
	require.Equal(t, 100, all["missing-user-2"][0].Row)
	require.Equal(t, 1, b.emu.Stats().Calls["ClientUserEdit"])

	// Unreadable commands and unknown operations are dead letters too.
	dlq := streamMessages(t, b.js, contract.DLQStream)
	codes := map[string]int{}
	for _, m := range dlq {
		codes[m.Headers().Get(contract.HeaderDLQCode)]++
		require.NotEmpty(t, m.Headers().Get(contract.HeaderDLQReason))
	}
	require.Equal(t, map[string]int{contract.CodeInvalidCommand: 2, contract.CodeUnknownOperation: 1}, codes)
}

// streamMessages reads every message of a stream.
func streamMessages(t *testing.T, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out []jetstream.Msg
	for uint64(len(out)) < info.State.Msgs {
		batch, err := c.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			out = append(out, m)
		}
	}
	return out
}

func TestReadsReturnRows(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)

	publish(t, b.js, "RegionRead", "regions", inbox, map[string]any{})
	r := col.Wait(t, 1, 30*time.Second)["regions"][0]
	require.Equal(t, "SUCCESS", r.Code)
	rows, ok := r.Data.([]any)
	require.True(t, ok, "a ValueTable is a list of rows: %T", r.Data)
	require.NotEmpty(t, rows)
	first := rows[0].(map[string]any)
	require.Contains(t, first, "RegionID")
	require.Contains(t, first, "RegionName")

	// A specialist added, edited and read back with ChangedFrom; msgpack
	// in, msgpack out.
	publish(t, b.js, "SpecialistAdd", "add-spec", inbox, map[string]any{"Name": "Анна", "EMail": "anna@example.com"})
	added := col.Wait(t, 2, 30*time.Second)["add-spec"][0]
	require.Equal(t, "SUCCESS", added.Code)
	id := added.Data.(map[string]any)["SpecialistID"].(string)
	from := time.Now().In(time.FixedZone("MSK", 3*3600)).Add(-time.Minute).Format("2006-01-02T15:04:05")
	payload, err := msgpack.Marshal(map[string]any{"id": "read-spec", "fields": map[string]any{"ChangedFrom": from}})
	require.NoError(t, err)
	publishRaw(t, b.js, contract.CommandPrefix+"SpecialistRead", "read-spec", inbox, payload)
	read := col.Wait(t, 3, 30*time.Second)["read-spec"][0]
	require.Equal(t, "SUCCESS", read.Code)
	list := read.Data.([]any)
	require.Len(t, list, 1)
	spec := list[0].(map[string]any)
	require.Equal(t, id, spec["SpecialistID"])
	require.Equal(t, "Анна", spec["Name"])
	require.Equal(t, false, spec["Deleted"])
}

func TestRedeliveredCommandIsAnsweredFromItsOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	users := b.emu.SeedClientUsers(1)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	publish(t, b.js, "ClientUserEdit", "once", inbox, userFields(users[0], 1))
	first := col.Wait(t, 1, 30*time.Second)["once"][0]
	require.Equal(t, "SUCCESS", first.Code)
	calls := b.emu.Stats().Calls["ClientUserEdit"]

	// The same command id again, past the stream's de-duplication (another
	// message id): the worker answers from the recorded outcome.
	again := nats.NewInbox()
	col2 := collect(t, b.nc, again)
	data := fmt.Sprintf(`{"id":"once","fields":{"ClientUserID":%q,"Name":"Другое","Password":"x","Phone":"1","EMail":"a@b.c"}}`, users[0])
	publishRaw(t, b.js, contract.CommandPrefix+"ClientUserEdit", "once-republished", again, []byte(data))
	second := col2.Wait(t, 1, 30*time.Second)["once"][0]
	require.Equal(t, first, second, "the same final result, not a second one")
	require.Equal(t, calls, b.emu.Stats().Calls["ClientUserEdit"], "no second API call")
	obj, _ := b.emu.Get("ClientUser", users[0])
	require.Equal(t, 1, obj.Edits)
	require.Len(t, resultStream(t, b.js)["once"], 1, "the result stream keeps one result per command")
}

func TestCommandsForOneObjectKeepTheirOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, options{worker: func(c *worker.Config) {
		c.Defaults.Concurrency = 4
		c.Defaults.MaxWait = worker.Duration(5 * time.Millisecond)
		// Every edit sent, so that the order of their calls shows.
		off := false
		c.Defaults.Collapse = &off
	}})
	users := b.emu.SeedClientUsers(3)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	const n = 30
	for i := range n {
		for j, u := range users {
			f := userFields(u, i)
			f["Name"] = fmt.Sprintf("v%d", i)
			publish(t, b.js, "ClientUserEdit", fmt.Sprintf("u%d-v%d", j, i), inbox, f)
		}
	}
	got := col.Wait(t, n*len(users), time.Minute)
	for id, rs := range got {
		require.Equal(t, "SUCCESS", rs[0].Code, id)
	}
	applied := b.emu.Applied("ClientUserEdit")
	require.Len(t, applied, n*len(users))
	for j, u := range users {
		obj, _ := b.emu.Get("ClientUser", u)
		if obj.Fields["Name"].Text != fmt.Sprintf("v%d", n-1) {
			for i := range n {
				r := got[fmt.Sprintf("u%d-v%d", j, i)][0]
				t.Logf("u%d-v%d: %s row %d/%d at %s attempts %d", j, i, r.Batch, r.Row, r.Rows, r.At.Format("15:04:05.000000"), r.Attempts)
			}
		}
		require.Equal(t, fmt.Sprintf("v%d", n-1), obj.Fields["Name"].Text, "user %d ends with the last edit", j)
		require.Equal(t, n, obj.Edits)
	}
	// Batches of different users may interleave, but each user's edits were
	// applied one after the other in publish order: result batches of one
	// user never repeat a call and rise with the version.
	for j := range users {
		var last time.Time
		for i := range n {
			r := got[fmt.Sprintf("u%d-v%d", j, i)][0]
			require.False(t, r.At.Before(last), "user %d: v%d decided before v%d", j, i, i-1)
			last = r.At
		}
	}
}

func TestUnauthorizedStopsCallingAndKeepsCommands(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Password: "right"}, worker: func(c *worker.Config) {
		c.AuthRetry = time.Hour
	}})
	users := b.emu.SeedClientUsers(5)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("e", i), inbox, userFields(u, i))
	}
	waitFor(t, 30*time.Second, "readiness to turn false", func() bool { return b.worker.Ready() != nil })
	require.Contains(t, b.worker.Ready().Error(), "credentials")
	require.Equal(t, 1, b.emu.Stats().Unauthorized, "one refused call, then no more")
	require.Zero(t, col.Count(), "no command is burnt")
	b.stop()
	// A work-queue stream keeps a command until it is acknowledged.
	st, err := b.js.Stream(context.Background(), contract.CommandStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, len(users), info.State.Msgs, "the commands stay queued")
}

func TestGracefulShutdownHandsCommandsBack(t *testing.T) {
	t.Parallel()
	// An ack wait longer than the test: commands come back only if they
	// are handed back.
	b := setup(t, options{worker: func(c *worker.Config) {
		c.Defaults.MaxWait = worker.Duration(time.Hour)
		c.AckWait = 5 * time.Minute
	}})
	users := b.emu.SeedClientUsers(10)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("e", i), inbox, userFields(u, i))
	}
	cons, err := b.js.Consumer(context.Background(), contract.CommandStream, "cmd-ClientUserEdit")
	require.NoError(t, err)
	waitFor(t, 30*time.Second, "the worker to hold the commands", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == len(users)
	})
	b.stop()
	require.Zero(t, b.emu.Stats().Calls["ClientUserEdit"])

	// The next worker takes them at once: they were handed back, and the
	// pin was released (else it would wait for the pin's TTL, an hour).
	b.startWorker(t, options{worker: func(c *worker.Config) {
		c.Defaults.MaxWait = worker.Duration(10 * time.Millisecond)
		c.AckWait = 5 * time.Minute
		c.PinnedTTL = time.Hour
	}})
	got := col.Wait(t, len(users), 30*time.Second)
	for _, rs := range got {
		require.Equal(t, "SUCCESS", rs[0].Code)
	}
}

func TestCommandSentByADeadWorkerEndsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	// A worker recorded "sent" for this add, then died before the answer.
	kv, err := b.js.KeyValue(context.Background(), contract.OutcomeBucket)
	require.NoError(t, err)
	rec, err := contract.EncodeOutcome(contract.Outcome{State: contract.StateSent, Batch: "ClientUserAdd-dead"})
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), contract.OutcomeKey("ClientUserAdd", "add-1"), rec)
	require.NoError(t, err)

	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	publish(t, b.js, "ClientUserAdd", "add-1", inbox, map[string]any{"ClientID": emulator.SeedClientID, "Name": "X"})
	r := col.Wait(t, 1, 30*time.Second)["add-1"][0]
	require.Equal(t, contract.CodeUnknownOutcome, r.Code)
	require.Equal(t, "ClientUserAdd-dead", r.Batch)
	require.Zero(t, b.emu.Stats().Calls["ClientUserAdd"], "not sent again")
	require.Len(t, streamMessages(t, b.js, contract.DLQStream), 1)
}

func TestResultTooLargeForOneMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	// A read whose answer is larger than the connection's max payload.
	users := b.emu.SeedClientUsers(1)
	// 9 MB of UTF-8, over the embedded server's 8 MB max payload.
	big := strings.Repeat("Я", 4_500_000)
	obj, _ := b.emu.Get("ClientUser", users[0])
	fields := obj.Fields
	fields["Post"] = soap.String(big)
	_, err := b.emu.Put("ClientUser", users[0], fields)
	require.NoError(t, err)
	require.Less(t, b.nc.MaxPayload(), int64(len(big)))
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	publish(t, b.js, "ClientUserRead", "read-all", inbox, map[string]any{})
	r := col.Wait(t, 1, 30*time.Second)["read-all"][0]
	require.Equal(t, contract.CodeResultTooLarge, r.Code)
	require.Contains(t, r.Error, "narrow the read")
	require.Nil(t, r.Data)
}

func TestProbesAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	users := b.emu.SeedClientUsers(3)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("e", i), inbox, userFields(u, i))
	}
	publish(t, b.js, "ClientUserEdit", "bad", inbox, map[string]any{"Name": "x"})
	col.Wait(t, 4, 30*time.Second)

	srv := httptest.NewServer(b.worker.Handler())
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, _ := get("/healthz")
	require.Equal(t, 200, code)
	code, body := get("/readyz")
	require.Equal(t, 200, code, body)
	waitFor(t, 10*time.Second, "every result counted", func() bool {
		_, m := get("/metrics")
		return strings.Contains(m, `connect_worker_results_total{code="SUCCESS",op="ClientUserEdit"} 3`)
	})
	_, m := get("/metrics")
	for _, want := range []string{
		`connect_worker_results_total{code="INVALID_FIELDS",op="ClientUserEdit"} 1`,
		`connect_worker_commands_received_total{op="ClientUserEdit"} 3`,
		`connect_worker_api_calls_total{op="ClientUserEdit",outcome="success"}`,
		`connect_worker_packet_rows_count{op="ClientUserEdit"}`,
		`connect_worker_wait_seconds_bucket{op="ClientUserEdit",le="+Inf"}`,
		`connect_worker_api_latency_seconds_sum{op="ClientUserEdit"}`,
		`connect_worker_queue_depth{op="ClientUserEdit"} 0`,
		`connect_worker_quota_used{op="ClientUserEdit"}`,
		`connect_worker_ready 1`,
	} {
		require.Contains(t, m, want)
	}
	b.stop()
	code, body = get("/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "shutting down")
}
