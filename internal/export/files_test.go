package export_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestExportRowLargerThanAMessageGoesToTheBucket: with a files bucket, a
// row no message can carry is stored there, and its message carries the
// reference; the chunk succeeds.
func TestExportRowLargerThanAMessageGoesToTheBucket(t *testing.T) {
	t.Parallel()
	start := soap.DateTime(time.Now().In(msk).Add(-2 * time.Hour))
	long := strings.Repeat("Ж", 8<<10)
	url := hostile(t, [][]soap.Value{
		{soap.String("ok-1"), start, soap.String("fine")},
		{soap.String("big"), start, soap.String(long)},
	})
	srv := natstest.ServerWith(t, -1, "", func(o *server.Options) { o.MaxPayload = 8 << 10 })
	_, js := natstest.Connect(t, srv.ClientURL())
	api, err := soap.New(soap.Config{URL: url, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	lim, err := quota.NewLocal(quota.Config{Limits: quota.Limits{Catalogue: catalog.HourlyLimits, Reserve: -1}})
	require.NoError(t, err)
	store, err := files.Open(context.Background(), files.Config{JetStream: js})
	require.NoError(t, err)
	w := &world{t: t, url: srv.ClientURL(), js: js, api: api, lim: lim}
	since := time.Now().In(msk).AddDate(0, 0, -1).Truncate(time.Second)
	r := w.run([]export.Export{callsExport(since, time.Hour)}, func(c *export.Config) { c.Files = store })
	var st export.State
	require.Eventually(t, func() bool {
		st = w.state(calls)
		return st.Chunks > 0 || st.Failed != ""
	}, 30*time.Second, 10*time.Millisecond)
	r.stop()
	require.Empty(t, st.Failed)
	got := w.rows()
	require.Len(t, got, 2)
	big := got[1]
	require.Equal(t, "big", big.rowID)
	ref, ok, err := files.ParseRef(big.Row.Row)
	require.NoError(t, err)
	require.True(t, ok, "the row's message carries a reference: %.200v", big.Row.Row)
	rc, err := store.Open(context.Background(), ref)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	whole, err := export.DecodeRow(b)
	require.NoError(t, err)
	require.Equal(t, long, whole.Row["Text"], "the object holds the whole row")
}

// TestExportColleaguesChat: the colleagues' chat, a ZIP of HTML files a
// read, is exported as one object per file and one row per object; every
// file the sandbox made is there once, and a rerun publishes nothing new.
func TestExportColleaguesChat(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.Config{SeedHistory: 10})
	store, err := files.Open(context.Background(), files.Config{JetStream: w.js})
	require.NoError(t, err)
	const op = "GetHistoryOfColleaguesChat"
	y, m, d := time.Now().In(msk).Date()
	since := time.Date(y, m, d-5, 0, 0, 0, 0, msk)
	x := export.Export{Op: op, Since: since, Interval: export.Duration(time.Hour)}
	nc, _ := natstest.Connect(t, w.url)
	_, err = export.New(w.config(nc, x))
	require.ErrorContains(t, err, "answers a ZIP of files, which is exported into the files bucket, and there is none")
	r := w.run([]export.Export{x}, func(c *export.Config) { c.Files = store })
	st := w.waitMarker(op, since.AddDate(0, 0, 4), time.Minute)
	require.Empty(t, st.Failed)

	got := w.rows()
	want := map[string]string{}
	var covered []export.Period
	seen := map[string]bool{}
	for _, row := range got {
		if len(covered) == 0 || covered[len(covered)-1] != row.Period {
			covered = append(covered, row.Period)
			for name, body := range w.emu.ColleaguesChat(row.Period.From, row.Period.To) {
				want[row.Period.From.String()+name] = body
			}
		}
		name, _ := row.Row.Row["name"].(string)
		ref, ok, err := files.ParseRef(row.Row.Row["file"])
		require.NoError(t, err)
		require.True(t, ok)
		require.Contains(t, ref.Name, "history/"+op+"/")
		rc, err := store.Open(context.Background(), ref)
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		require.NoError(t, err)
		key := row.Period.From.String() + name
		require.False(t, seen[key], "%s twice", key)
		seen[key] = true
		require.Equal(t, want[key], string(body), key)
	}
	require.NotEmpty(t, got, "the colleagues chatted in five days")
	require.Len(t, seen, len(want), "every file of the periods read")

	before := w.count()
	res, err := r.Rerun(context.Background(), op, since, since.AddDate(0, 0, 2))
	require.NoError(t, err)
	require.Zero(t, res.Published, "a rerun publishes nothing new: %+v", res)
	require.Equal(t, before, w.count())
	r.stop()
	b, _ := json.Marshal(res)
	t.Logf("rerun: %s", b)
}
