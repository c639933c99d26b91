package export_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// hostile is a service that answers every read with rows, whatever it
// was asked.
func hostile(t *testing.T, rows [][]soap.Value) string {
	t.Helper()
	cols := []soap.Column{{Name: "ServiceCallID"}, {Name: "Start"}, {Name: "Text"}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/soap+xml;charset=utf-8")
		_ = soap.EncodeResponseRows(w, soap.SOAP12, calls, cols, func(yield func([]soap.Value) bool) {
			for _, row := range rows {
				if !yield(row) {
					return
				}
			}
		})
	}))
	t.Cleanup(hs.Close)
	return hs.URL + emulator.Path
}

// runHostile exports a day of calls from the service at url into a
// JetStream whose messages are at most 8 KiB, and returns the world once
// the first read is over.
func runHostile(t *testing.T, url string) (*world, export.State) {
	t.Helper()
	srv := natstest.ServerWith(t, -1, "", func(o *server.Options) { o.MaxPayload = 8 << 10 })
	_, js := natstest.Connect(t, srv.ClientURL())
	api, err := soap.New(soap.Config{URL: url, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	lim, err := quota.NewLocal(quota.Config{Limits: quota.Limits{Catalogue: catalog.HourlyLimits, Reserve: -1}})
	require.NoError(t, err)
	w := &world{t: t, url: srv.ClientURL(), js: js, api: api, lim: lim}
	since := time.Now().In(msk).AddDate(0, 0, -1).Truncate(time.Second)
	r := w.run([]export.Export{callsExport(since, time.Hour)}, nil)
	var st export.State
	require.Eventually(t, func() bool {
		st = w.state(calls)
		return st.Chunks > 0 || st.Failed != ""
	}, 30*time.Second, 10*time.Millisecond)
	r.stop()
	return w, st
}

// TestExportHostileIDs: ids that a header cannot carry (a line break, a
// space, 200 bytes, none) are replaced by the row's hash; identical rows
// are all kept, numbered.
func TestExportHostileIDs(t *testing.T) {
	t.Parallel()
	start := soap.DateTime(time.Now().In(msk).Add(-2 * time.Hour))
	rows := [][]soap.Value{
		{soap.String("ok-1"), start, soap.String("fine")},
		{soap.String("two\r\nNats-Msg-Id: forged"), start, soap.String("a header injection")},
		{soap.String("with space"), start, soap.String("spaced")},
		{soap.String(strings.Repeat("x", 200)), start, soap.String("long")},
		{soap.Null(), start, soap.String("click")},
		{soap.Null(), start, soap.String("click")},
		{soap.Null(), start, soap.String("click")},
	}
	w, st := runHostile(t, hostile(t, rows))
	require.Empty(t, st.Failed)
	got := w.rows()
	require.Len(t, got, len(rows), "every row published, identical ones too")
	ids := map[string]bool{}
	for _, r := range got {
		require.False(t, ids[r.rowID], "identity %q twice", r.rowID)
		ids[r.rowID] = true
		require.Equal(t, export.MsgID(calls, r.rowID), r.msgID)
		require.NotContains(t, r.rowID, "\n")
		require.LessOrEqual(t, len(r.rowID), 128)
	}
	require.True(t, ids["ok-1"], "a good id is kept")
	require.EqualValues(t, len(rows), st.Published)
}

// TestExportRowLargerThanAMessage: a row that no NATS message can carry
// fails its chunk with the reason stored, and the marker stays.
func TestExportRowLargerThanAMessage(t *testing.T) {
	t.Parallel()
	start := soap.DateTime(time.Now().In(msk).Add(-2 * time.Hour))
	rows := [][]soap.Value{
		{soap.String("ok-1"), start, soap.String("fine")},
		{soap.String("big"), start, soap.String(strings.Repeat("Ж", 8<<10))},
	}
	w, st := runHostile(t, hostile(t, rows))
	require.Contains(t, st.Failed, "larger than a NATS message may be")
	require.Zero(t, st.Chunks)
	require.Len(t, w.rows(), 1, "the rows before it are stored; the chunk is read again later")
}
