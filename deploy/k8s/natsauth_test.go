package k8s_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// authServer starts a JetStream server with the accounts, users and
// permissions of nats-values.yaml, configured as the chart configures it:
// config.merge rendered into the config file, each password a bcrypt
// hash the server reads from the environment variable the values name.
// It returns the server's URL and each user's clear password.
//
// It sets environment variables, so its test cannot run in parallel.
func authServer(t *testing.T, v natsValues) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	require.NoError(t, os.WriteFile(conf, renderNATSConfig(t, v), 0o600))
	passwords := map[string]string{}
	for _, a := range v.merge.Accounts {
		for _, u := range a.Users {
			m := passwordVar.FindStringSubmatch(u.Password)
			require.NotNil(t, m, "user %s", u.User)
			pw := "test-password-of-" + u.User
			// The lowest cost: each login checks the hash.
			hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			require.NoError(t, err)
			t.Setenv(m[1], string(hash))
			passwords[u.User] = pw
		}
	}
	opts, err := server.ProcessConfigFile(conf)
	require.NoError(t, err, "the server refuses the config of nats-values.yaml")
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir = true, filepath.Join(dir, "jetstream")
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(s.Shutdown)
	require.True(t, s.ReadyForConnections(10*time.Second), "NATS not ready")
	return s.ClientURL(), passwords
}

// client is a connection as one user, with the errors the server sent it
// (permission violations arrive that way, not as a failed publish).
type client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func login(t *testing.T, url, user, password string, opts ...nats.Option) *client {
	t.Helper()
	c := &client{errs: make(chan error, 256)}
	opts = append([]nats.Option{
		nats.UserInfo(user, password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}),
	}, opts...)
	c.nc, c.js = natstest.Connect(t, url, opts...)
	return c
}

// refused runs op, which publishes or subscribes on subject, and waits for
// the server's permission violation naming it.
func (c *client) refused(t *testing.T, subject string, op func() error) {
	t.Helper()
	require.NoError(t, op())
	require.NoError(t, c.nc.Flush())
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
			t.Fatalf("while waiting for the refusal of %s: %v", subject, err)
		case <-deadline:
			t.Fatalf("%s was not refused", subject)
		}
	}
}

// noErrors fails if the server sent c any error.
func (c *client) noErrors(t *testing.T, who string) {
	t.Helper()
	select {
	case err := <-c.errs:
		t.Fatalf("%s: %v", who, err)
	default:
	}
}

// exportSince is where the history export of runWorker starts: two weeks
// back, three calls (two chunks of 7 days and the rest), within the
// sandbox's 10 calls an hour of GetHistoryOfServiceCalls.
var exportSince = time.Now().In(quota.MoscowTime()).AddDate(0, 0, -14).Truncate(time.Second)

// exportedOp is the read runWorker's export exports.
const exportedOp = "GetHistoryOfServiceCalls"

// runWorker runs the real worker, a change feed of ClientUserRead and a
// history export of GetHistoryOfServiceCalls, with the shared quota, as
// the given connection, against the sandbox API, until the test ends; it
// returns its client of the sandbox and the exports' runner.
func runWorker(t *testing.T, wk *client, emu *emulator.Server) (*soap.Client, *export.Runner) {
	t.Helper()
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	ctx, cancel := context.WithCancel(context.Background())
	lim, err := quota.NewShared(ctx, quota.SharedConfig{
		JetStream: wk.js,
		Config: quota.Config{
			Windows: quota.Windows{Length: time.Hour, Guard: -1},
			Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 100000}, Reserve: -1},
		},
	})
	require.NoError(t, err, "the quota bucket as connect-worker")
	store, err := files.Open(ctx, files.Config{JetStream: wk.js})
	require.NoError(t, err, "the files bucket as connect-worker")
	w, err := worker.New(worker.Config{
		Files:         store,
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Conn:          wk.nc,
		API:           api,
		Limiter:       lim,
		AckWait:       2 * time.Second,
		FetchWait:     200 * time.Millisecond,
		SweepInterval: 50 * time.Millisecond,
		Defaults:      worker.OpSettings{MaxWait: worker.Duration(50 * time.Millisecond)},
	})
	require.NoError(t, err)
	feeds, err := feed.New(feed.Config{
		Logger:   zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Feeds:    []feed.Feed{{Read: "ClientUserRead", Interval: feed.Duration(100 * time.Millisecond)}},
		Conn:     wk.nc,
		API:      api,
		Limiter:  lim,
		Location: quota.MoscowTime(), // the sandbox's account
		LeaseTTL: 2 * time.Second,
	})
	require.NoError(t, err)
	exports, err := export.New(export.Config{
		Logger:   zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Exports:  []export.Export{{Op: exportedOp, Since: exportSince, Interval: export.Duration(time.Hour)}},
		Conn:     wk.nc,
		API:      api,
		Limiter:  lim,
		Location: quota.MoscowTime(),
		LeaseTTL: 2 * time.Second,
	})
	require.NoError(t, err)
	const parts = 3
	done := make(chan error, parts)
	go func() { done <- w.Run(ctx) }()
	go func() { done <- feeds.Run(ctx) }()
	go func() { done <- exports.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range parts {
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("worker, feeds or exports did not stop within 30s")
			}
		}
		// Shutting down hands pins back and confirms acks: still within
		// the permissions.
		wk.noErrors(t, "connect-worker, at shutdown")
	})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for w.Ready() != nil || feeds.Ready() != nil || exports.Ready() != nil {
		select {
		case err := <-wk.errs:
			t.Fatalf("connect-worker while setting up: %v", err)
		case <-deadline:
			t.Fatalf("not ready: worker %v, feeds %v, exports %v", w.Ready(), feeds.Ready(), exports.Ready())
		case <-tick.C:
		}
	}
	return api, exports
}

// TestNATSAuthLive runs the worker and a producer on a NATS server
// configured from nats-values.yaml: the worker does all its work within
// its permissions, a producer's commands get their results through its
// account's imports, and neither can do what it must not.
func TestNATSAuthLive(t *testing.T) {
	v := readNATSValues(t)
	url, pw := authServer(t, v)
	const reply = "connect.reply.connect-producer"

	t.Run("no login without a user", func(t *testing.T) {
		_, err := nats.Connect(url)
		require.ErrorIs(t, err, nats.ErrAuthorization)
		_, err = nats.Connect(url, nats.UserInfo("connect-worker", "wrong"))
		require.ErrorIs(t, err, nats.ErrAuthorization)
	})

	emu, err := emulator.New(emulator.Config{SeedHistory: 15})
	require.NoError(t, err)
	wk := login(t, url, "connect-worker", pw["connect-worker"], nats.Name("connect-worker"))
	emuAPI, exports := runWorker(t, wk, emu)
	admin := login(t, url, "connect-admin", pw["connect-admin"])
	// The enqueue tool's connection with its inboxes under the user's
	// reply prefix: replies reach it through the import of that prefix.
	producer := login(t, url, "connect-producer", pw["connect-producer"], nats.CustomInboxPrefix(reply))
	// A service's plain connection: JetStream answers it on _INBOX, and it
	// names its reply subjects itself.
	service := login(t, url, "connect-producer", pw["connect-producer"])
	ctx := context.Background()

	t.Run("a producer's commands get their results", func(t *testing.T) {
		users := emu.SeedClientUsers(1)
		edit, err := json.Marshal(map[string]any{"id": "edit-1", "fields": map[string]any{
			"ClientUserID": users[0], "Name": "Имя", "Password": "secret1", "Phone": "+7 900 000-00-00", "EMail": "user@example.com",
		}})
		require.NoError(t, err)
		// SpecialistAdd is not safe to repeat: the worker records it as
		// sent before the call.
		src, err := enqueue.ParseArgs([]string{
			"ClientUserEdit", string(edit),
			"SpecialistAdd", `{"id":"add-1","fields":{"Name":"Анна","EMail":"anna@example.com"}}`,
		}, false)
		require.NoError(t, err)
		var out, diag bytes.Buffer
		cl, err := enqueue.New(producer.nc, enqueue.Config{Wait: true, Timeout: 30 * time.Second, Stdout: &out, Stderr: &diag})
		require.NoError(t, err)
		sum, err := cl.Publish(ctx, src)
		require.NoError(t, err, diag.String())
		require.Equal(t, 2, sum.Published)
		require.Equal(t, map[string]int{contract.CodeSuccess: 2}, sum.ByCode, diag.String())

		// Bad commands too, from the plain connection: a dead letter, and
		// the sweeper's answer for an operation that does not exist.
		sub, err := service.nc.SubscribeSync(reply + ".raw")
		require.NoError(t, err)
		for subject, data := range map[string]string{
			contract.CommandPrefix + "ClientUserEdit":  "\xc1 not a command",
			contract.CommandPrefix + "NoSuchOperation": `{"id":"unknown-1","fields":{}}`,
		} {
			m := nats.NewMsg(subject)
			m.Data = []byte(data)
			m.Header.Set(contract.HeaderReplyTo, reply+".raw")
			_, err := service.js.PublishMsg(ctx, m)
			require.NoError(t, err)
		}
		codes := map[string]int{}
		for range 2 {
			m, err := sub.NextMsg(30 * time.Second)
			require.NoError(t, err)
			r, err := contract.DecodeResult(m.Data)
			require.NoError(t, err)
			codes[r.Code]++
		}
		require.Equal(t, map[string]int{contract.CodeInvalidCommand: 1, contract.CodeUnknownOperation: 1}, codes)

		// enqueue result --op, on either connection: read back from the
		// outcome bucket.
		for name, c := range map[string]*client{"prefixed inboxes": producer, "plain inboxes": service} {
			var out, diag bytes.Buffer
			cl, err := enqueue.New(c.nc, enqueue.Config{Timeout: 30 * time.Second, Stdout: &out, Stderr: &diag})
			require.NoError(t, err)
			rs, err := cl.Results(ctx, "ClientUserEdit", []string{"edit-1"})
			require.NoError(t, err, "%s: %s", name, diag.String())
			require.Equal(t, 1, rs.Results, name)
			require.Contains(t, out.String(), `"code":"SUCCESS"`, name)
		}

		// What the worker stored, as the admin sees it.
		for stream, want := range map[string]uint64{contract.ResultStream: 4, contract.DLQStream: 2} {
			st, err := admin.js.Stream(ctx, stream)
			require.NoError(t, err)
			require.Equal(t, want, st.CachedInfo().State.Msgs, stream)
		}
	})

	t.Run("a producer reads the quota ledger, as enqueue's estimate does", func(t *testing.T) {
		r, err := quota.NewReader(quota.ReaderConfig{JetStream: producer.js, Config: quota.Config{
			Windows: quota.Windows{Length: time.Hour, Location: quota.MoscowTime()},
			Limits:  quota.Limits{Catalogue: catalog.HourlyLimits},
		}})
		require.NoError(t, err)
		st, err := r.Status(ctx, []string{"ClientUserEdit"}, time.Now())
		require.NoError(t, err)
		require.Len(t, st, 1)
		require.Positive(t, st[0].Used, "the worker's calls of this window, as the ledger counts them")
	})

	t.Run("the feed mirrors as connect-worker, and a producer reads the mirror", func(t *testing.T) {
		users := emu.SeedClientUsers(1)
		mirror, err := producer.js.KeyValue(ctx, feed.MirrorBucket)
		require.NoError(t, err, "the mirror's info, through the import")
		key := feed.MirrorKey("ClientUser", users[0])
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(30 * time.Second)
		for {
			e, err := mirror.Get(ctx, key)
			if err == nil {
				var rec feed.Record
				require.NoError(t, json.Unmarshal(e.Value(), &rec))
				require.Equal(t, users[0], rec.Data["ClientUserID"])
				break
			}
			require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
			select {
			case err := <-wk.errs:
				t.Fatalf("connect-worker while mirroring: %v", err)
			case <-deadline:
				t.Fatalf("the user never reached the mirror (%s)", key)
			case <-tick.C:
			}
		}
		// The change event is in the stream, as the admin sees it.
		st, err := admin.js.Stream(ctx, feed.ChangeStream)
		require.NoError(t, err)
		require.Positive(t, st.CachedInfo().State.Msgs)
	})

	t.Run("the export publishes history rows as connect-worker, and reruns a range", func(t *testing.T) {
		// Caught up: the marker within a minute of the horizon (the
		// default settle is 10 minutes), as the admin reads it.
		horizon := time.Now().Add(-11 * time.Minute)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(30 * time.Second)
		var st export.State
		for st.Marker.Before(horizon) {
			select {
			case err := <-wk.errs:
				t.Fatalf("connect-worker while exporting: %v", err)
			case <-deadline:
				t.Fatalf("the export never caught up: %+v", st)
			case <-tick.C:
			}
			out, err := export.Status(ctx, admin.js, export.StatusConfig{Exports: []export.Export{{Name: exportedOp}}}, time.Now())
			require.NoError(t, err)
			st = out[0].State
		}
		want, err := emu.History(exportedOp, exportSince, st.Marker)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		stream, err := admin.js.Stream(ctx, export.HistoryStream)
		require.NoError(t, err)
		require.EqualValues(t, len(want), stream.CachedInfo().State.Msgs, "every row of the two weeks")
		require.Zero(t, emu.Stats().OutOfLimit[exportedOp])

		// A rerun as the worker's user (`worker export rerun` in its pod):
		// the same rows again, dropped by the stream.
		res, err := exports.Rerun(ctx, exportedOp, exportSince, exportSince.Add(7*24*time.Hour))
		require.NoError(t, err)
		require.Zero(t, res.Published)
		require.Positive(t, res.Duplicates)
		wk.noErrors(t, "connect-worker, after the rerun")

		// A standby replica, as the worker's user too: it finds the lease
		// held (a create of an existing key reads it, to tell a lease
		// held from one released), and waits.
		standby := login(t, url, "connect-worker", pw["connect-worker"])
		reads := make(chan *nats.Msg, 16)
		asked, err := admin.nc.ChanSubscribe("$JS.API.DIRECT.GET.KV_"+export.LeaseBucket+".>", reads)
		require.NoError(t, err)
		require.NoError(t, admin.nc.Flush())
		lim, err := quota.NewLocal(quota.Config{Windows: quota.Windows{Length: time.Hour, Guard: -1},
			Limits: quota.Limits{Catalogue: catalog.HourlyLimits, Reserve: -1}})
		require.NoError(t, err)
		second, err := export.New(export.Config{
			Exports: []export.Export{{Op: exportedOp, Since: exportSince, Interval: export.Duration(time.Hour)}},
			Conn:    standby.nc, API: emuAPI, Limiter: lim, Location: quota.MoscowTime(), LeaseTTL: 2 * time.Second,
		})
		require.NoError(t, err)
		sctx, stop := context.WithCancel(ctx)
		stopped := make(chan error, 1)
		go func() { stopped <- second.Run(sctx) }()
		select {
		case <-reads:
		case err := <-standby.errs:
			t.Fatalf("connect-worker, a standby replica: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the standby never read the lease")
		}
		require.NoError(t, standby.nc.Flush())
		stop()
		require.NoError(t, <-stopped)
		standby.noErrors(t, "connect-worker, a standby replica")
		require.NoError(t, asked.Unsubscribe())
	})

	t.Run("the worker streams a stored file into a call and stores a large answer", func(t *testing.T) {
		// The admin stores a file; a producer's command references it.
		adminFiles, err := files.Existing(ctx, files.Config{JetStream: admin.js})
		require.NoError(t, err)
		data := bytes.Repeat([]byte("connect-bridge "), 150_000) // 2.25 MB: its download is larger than a message
		ref, err := adminFiles.Put(ctx, "uploads/manual.txt", bytes.NewReader(data))
		require.NoError(t, err)
		add, err := emuAPI.Call(ctx, &soap.Request{Op: "ServiceRequestAdd", Params: soap.Struct(soap.Property{Name: "Summary", Value: soap.String("Manual")})})
		require.NoError(t, err)
		sr, _ := add.Data.Prop("ServiceRequestID")
		var out, diag bytes.Buffer
		cl, err := enqueue.New(producer.nc, enqueue.Config{Wait: true, Timeout: 30 * time.Second, Stdout: &out, Stderr: &diag})
		require.NoError(t, err)
		attach, err := json.Marshal(map[string]any{"id": "attach-1", "fields": map[string]any{
			"ServiceRequestID": sr.Text, "AuthorID": "00000000-0000-4000-8000-000000000001", "Name": "manual.txt", "Hash": "x",
			"Data": files.Ref{Bucket: ref.Bucket, Name: ref.Name}.Wrap(),
		}})
		require.NoError(t, err)
		src, err := enqueue.ParseArgs([]string{"ServiceRequestAttachFile", string(attach)}, false)
		require.NoError(t, err)
		sum, err := cl.Publish(ctx, src)
		require.NoError(t, err, diag.String())
		require.Equal(t, map[string]int{contract.CodeSuccess: 1}, sum.ByCode, out.String())
		var res contract.Result
		require.NoError(t, json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res))
		fileID := res.Data.(map[string]any)["FileID"].(string)

		out.Reset()
		src, err = enqueue.ParseArgs([]string{"ServiceRequestDownloadFile", `{"id":"download-1","fields":{"FileID":"` + fileID + `"}}`}, false)
		require.NoError(t, err)
		sum, err = cl.Publish(ctx, src)
		require.NoError(t, err, diag.String())
		require.Equal(t, map[string]int{contract.CodeSuccess: 1}, sum.ByCode, out.String())
		require.NoError(t, json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res))
		back, ok, err := files.ParseRef(res.Data.(map[string]any)["fileData"])
		require.NoError(t, err)
		require.True(t, ok, "the download is stored in the bucket")
		got, err := adminFiles.Open(ctx, back)
		require.NoError(t, err)
		b, err := io.ReadAll(got)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, b))
	})

	t.Run("a producer cannot write the worker's data nor remove it", func(t *testing.T) {
		pub := func(subject string) func() error {
			return func() error { return producer.nc.Publish(subject, []byte(`{"used":0}`)) }
		}
		for _, subject := range []string{
			"$KV.CONNECT_QUOTA.op.ClientUserEdit.0",
			"$KV.CONNECT_OUTCOMES.ClientUserEdit.ZWRpdC0x",
			"connect.result.ClientUserEdit",
			"connect.dlq.ClientUserEdit",
			"connect.change.ClientUser",
			"$KV.CONNECT_MIRROR.ClientUser.eA",
			"$KV.CONNECT_FEEDS.ClientUserRead",
			"connect.history.GetHistoryOfServiceCalls",
			"$KV.CONNECT_EXPORTS.GetHistoryOfServiceCalls",
			"$KV.CONNECT_EXPORT_LEASES.GetHistoryOfServiceCalls",
			"$JS.API.STREAM.PURGE.CONNECT_HISTORY",
			"$JS.API.STREAM.PURGE.KV_CONNECT_MIRROR",
			"$O.CONNECT_FILES.M.dXBsb2Fkcy9tYW51YWwudHh0",
			"$JS.API.STREAM.PURGE.OBJ_CONNECT_FILES",
			"$JS.API.STREAM.DELETE.CONNECT_CHANGES",
			"$JS.API.STREAM.DELETE.CONNECT_CMD",
			"$JS.API.STREAM.PURGE.KV_CONNECT_QUOTA",
			"$JS.API.STREAM.UPDATE.CONNECT_CMD",
			"$JS.API.CONSUMER.CREATE.CONNECT_RESULT.spy",
			"$JS.API.CONSUMER.DELETE.CONNECT_CMD.cmd-ClientUserEdit",
			"$JS.ACK.CONNECT_CMD.cmd-ClientUserEdit.1.1.1.1.1",
		} {
			t.Run(subject, func(t *testing.T) { producer.refused(t, subject, pub(subject)) })
		}
		for _, subject := range []string{"connect.reply.>", "connect.reply.billing.>", "connect.result.>", ">"} {
			t.Run("subscribe "+subject, func(t *testing.T) {
				producer.refused(t, subject, func() error {
					_, err := producer.nc.SubscribeSync(subject)
					return err
				})
			})
		}
		// Every stream is still there.
		for _, stream := range []string{contract.CommandStream, contract.ResultStream, contract.DLQStream, "KV_CONNECT_OUTCOMES", "KV_CONNECT_QUOTA", feed.ChangeStream, "KV_" + feed.MirrorBucket,
			export.HistoryStream, "KV_" + export.MarkerBucket, "KV_" + export.LeaseBucket} {
			_, err := admin.js.Stream(ctx, stream)
			require.NoError(t, err, stream)
		}
	})

	t.Run("a reply subject does not carry JetStream's answer into the worker's account", func(t *testing.T) {
		quotaKV, err := admin.js.KeyValue(ctx, quota.DefaultBucket)
		require.NoError(t, err)
		// The attack: a command, allowed, whose reply subject is a key of
		// the quota ledger. JetStream acknowledges it on that subject; in
		// one shared account the ledger stores the acknowledgement, which
		// reads as {"used":0}, a reset of the count.
		inject := func(c *client, key string) {
			t.Helper()
			require.NoError(t, c.nc.PublishRequest(contract.CommandPrefix+"NoSuchOperation", "$KV.CONNECT_QUOTA."+key, []byte(`{"id":"inject-`+key+`"}`)))
			// Acknowledged after the injected one (one stream, in order):
			// once this ack is back, the first one has gone where it went.
			_, err := c.js.Publish(ctx, contract.CommandPrefix+"NoSuchOperation", []byte(`{"id":"barrier-`+key+`"}`))
			require.NoError(t, err)
		}
		// The check can see the attack: the admin, inside the account.
		inject(admin, "injected-by-admin")
		e, err := quotaKV.Get(ctx, "injected-by-admin")
		require.NoError(t, err, "the injection did not land even inside the account: this check proves nothing")
		require.Contains(t, string(e.Value()), `"stream":"CONNECT_CMD"`)

		inject(producer, "injected-by-producer")
		_, err = quotaKV.Get(ctx, "injected-by-producer")
		require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "a producer wrote the quota ledger through a reply subject")
	})

	t.Run("the worker's user sends no command and removes nothing", func(t *testing.T) {
		// Another connection as the worker's user: the running worker's
		// own must stay free of violations.
		wk2 := login(t, url, "connect-worker", pw["connect-worker"])
		for _, subject := range []string{
			"connect.cmd.ClientUserEdit",
			"$JS.API.STREAM.DELETE.CONNECT_RESULT",
			"$JS.API.STREAM.PURGE.CONNECT_CMD",
			"$JS.API.STREAM.PURGE.KV_CONNECT_QUOTA",
			"$JS.API.STREAM.MSG.DELETE.KV_CONNECT_QUOTA",
			"$JS.API.STREAM.MSG.DELETE.KV_CONNECT_MIRROR",
			"$JS.API.STREAM.PURGE.CONNECT_HISTORY",
			"$JS.API.STREAM.PURGE.KV_CONNECT_EXPORTS",
			"$JS.API.STREAM.PURGE.KV_CONNECT_EXPORT_LEASES",
			"$JS.API.STREAM.MSG.DELETE.CONNECT_HISTORY",
			"$JS.API.STREAM.MSG.DELETE.KV_CONNECT_EXPORTS",
			"$JS.API.STREAM.MSG.DELETE.KV_CONNECT_EXPORT_LEASES",
			"$JS.API.STREAM.CREATE.ELSEWHERE",
			"_INBOX.someone-else",
		} {
			t.Run(subject, func(t *testing.T) {
				wk2.refused(t, subject, func() error { return wk2.nc.Publish(subject, []byte("{}")) })
			})
		}
		t.Run("subscribe connect.cmd.>", func(t *testing.T) {
			wk2.refused(t, "connect.cmd.>", func() error {
				_, err := wk2.nc.SubscribeSync("connect.cmd.>")
				return err
			})
		})
	})

	producer.noErrors(t, "connect-producer, outside the refusals")
	service.noErrors(t, "connect-producer, plain connection")
	wk.noErrors(t, "connect-worker")
	admin.noErrors(t, "connect-admin")
}
