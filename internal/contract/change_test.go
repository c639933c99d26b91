package contract_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// TestChangeEventRoundTrip: an event written in either format reads back
// the same; its key and message id are the ones the feed publishes.
func TestChangeEventRoundTrip(t *testing.T) {
	t.Parallel()
	e := contract.ChangeEvent{
		Object: "ClientUser", ID: "u-1", Data: map[string]any{"Name": "Анна"},
		Read: "ClientUserRead", Seen: time.Date(2026, 12, 1, 13, 10, 58, 0, time.UTC), Version: "v1",
	}
	for name, marshal := range map[string]func(any) ([]byte, error){"json": json.Marshal, "msgpack": msgpack.Marshal} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := marshal(e)
			require.NoError(t, err)
			back, err := contract.DecodeChangeEvent(b)
			require.NoError(t, err)
			require.True(t, e.Seen.Equal(back.Seen))
			back.Seen = e.Seen
			require.Equal(t, e, back)
		})
	}
	require.Equal(t, "ClientUser.dS0x", contract.MirrorKey("ClientUser", "u-1"))
	require.Equal(t, "ClientUser.u-1.v1", e.MsgID())
	require.Equal(t, "connect.change.ClientUser", e.Subject(contract.ChangePrefix))
}

// TestWireRecordsRefuseHostilePayloads: events, mirror records and
// history rows are checked as results are before they are decoded.
func TestWireRecordsRefuseHostilePayloads(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	decoders := map[string]func([]byte) error{
		"event":  func(b []byte) error { _, err := contract.DecodeChangeEvent(b); return err },
		"record": func(b []byte) error { _, err := contract.DecodeMirrorRecord(b); return err },
		"row":    func(b []byte) error { _, err := contract.DecodeHistoryRow(b); return err },
	}
	cases := []struct {
		name    string
		payload []byte
		want    string
		only    string // "" : every decoder
	}{
		{"too deep", []byte(`{"data":` + deep + `}`), "nested deeper than 64", ""},
		{"bad UTF-8", []byte("{\"id\":\"\xff\"}"), "not valid UTF-8", ""},
		{"msgpack map32 of 2^32-1 entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, "", "event"},
		{"not JSON", []byte{0x80}, "not a JSON object", "record"},
		{"not JSON", []byte{0x80}, "not a JSON object", "row"},
		{"empty", nil, "", "event"},
	}
	for _, c := range cases {
		for name, decode := range decoders {
			if c.only != "" && c.only != name {
				continue
			}
			t.Run(c.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				err := decode(c.payload)
				require.Error(t, err)
				require.ErrorContains(t, err, c.want)
			})
		}
	}
}

// TestHistoryRowDecode reads a row as the export writes it.
func TestHistoryRowDecode(t *testing.T) {
	t.Parallel()
	r, err := contract.DecodeHistoryRow([]byte(`{"op":"GetHistoryOfServiceCalls","row":{"ServiceCallID":"c-1","Duration":12},` +
		`"period":{"from":"2026-11-24T00:00:00+03:00","to":"2026-12-01T00:00:00+03:00"},"seen":"2026-12-01T13:02:11Z"}`))
	require.NoError(t, err)
	require.Equal(t, "GetHistoryOfServiceCalls", r.Op)
	require.Equal(t, map[string]any{"ServiceCallID": "c-1", "Duration": 12.0}, r.Row)
	require.Equal(t, 7*24*time.Hour, r.Period.To.Sub(r.Period.From))
	require.Equal(t, "GetHistoryOfServiceCalls.c-1", contract.HistoryMsgID(r.Op, "c-1"))
}
