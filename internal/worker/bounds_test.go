package worker

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

func TestOpToken(t *testing.T) {
	for _, tt := range []struct {
		name, op string
		known    bool
		want     string
	}{
		{"known", "ClientUserEdit", true, "ClientUserEdit"},
		{"short unknown", "ClientUserEdt", false, "ClientUserEdt"},
		{"dots", "a.b", false, "_invalid"},
		{"wildcards", "a*", false, "_invalid"},
		{"empty", "", false, "_invalid"},
		{"long", strings.Repeat("Op", 1900), false, "_invalid"},
		{"non-ASCII", "Операция", false, "_invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, opToken(tt.op, tt.known))
		})
	}
}

func TestBoundText(t *testing.T) {
	require.Equal(t, "short", boundText("short", 10))
	long := strings.Repeat("я", 100) // 200 bytes
	got := boundText(long, 51)
	require.LessOrEqual(t, len(got), 51)
	require.True(t, utf8.ValidString(got), "cut on a character boundary")
	require.True(t, strings.HasSuffix(got, "…"))
}

func TestBudget(t *testing.T) {
	proc := newBudget(100, nil)
	a, b := newBudget(60, proc), newBudget(60, proc)
	room, _ := a.free()
	require.Equal(t, int64(60), room, "the lane's own limit")
	b.charge(50)
	room, freed := a.free()
	require.Equal(t, int64(50), room, "the process's is smaller now")
	select {
	case <-freed:
		t.Fatal("nothing was released")
	default:
	}
	b.release(20)
	select {
	case <-freed:
	case <-time.After(time.Second):
		t.Fatal("a release in another lane wakes the waiting one")
	}
	room, _ = a.free()
	require.Equal(t, int64(60), room)
	require.Equal(t, int64(30), b.inUse())
	require.Equal(t, int64(30), proc.inUse())
}

// TestDeadLetterFitsTheMaxPayload builds the dead letter of a command at
// the server's max payload, with large headers: it fits, says what was
// cut, and the server takes it.
func TestDeadLetterFitsTheMaxPayload(t *testing.T) {
	const maxPayload = 64 << 10
	srv := natstest.ServerWith(t, -1, "", func(o *server.Options) { o.MaxPayload = maxPayload })
	nc, js := natstest.Connect(t, srv.ClientURL())
	_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: contract.DLQStream, Subjects: []string{contract.DLQPrefix + ">"}})
	require.NoError(t, err)
	w := &Worker{cfg: Config{Names: Names{}.withDefaults()}, nc: nc, js: js, secrets: newSecrets([]string{"Password"}), log: zerolog.Nop()}
	f := &finisher{w: w, lane: "ClientUserEdit"}

	h := nats.Header{}
	h.Set("X-Big", strings.Repeat("h", 20<<10))
	h.Set("X-Small", "kept")
	h.Set(contract.HeaderMsgID, "the-id")
	data := []byte(`{"id":"the-id","fields":{"Password":"dl-Secret","Name":"` + strings.Repeat("n", 50<<10) + `"}}`)
	e := &entry{op: "ClientUserEdit", format: contract.JSON, seq: 7,
		msg: &storedMsg{raw: &jetstream.RawStreamMsg{Subject: contract.CommandPrefix + "ClientUserEdit", Header: h, Data: data, Sequence: 7}}}
	fn := &final{e: e, dlq: "retries exhausted", result: contract.Result{ID: "the-id", Code: contract.CodeTransportError, Error: strings.Repeat("e", 10<<10)}}

	m := f.deadLetter(fn, true)
	require.LessOrEqual(t, len(m.Data)+headerBytes(m.Header), maxPayload)
	require.NotEmpty(t, m.Header.Get(contract.HeaderDLQTruncated), "the payload was cut")
	require.Equal(t, "kept", m.Header.Get("X-Small"))
	require.LessOrEqual(t, len(m.Header.Get(contract.HeaderDLQReason)), maxDeadLetterText)
	require.NotContains(t, string(m.Data), "dl-Secret")
	_, err = js.PublishMsg(t.Context(), m)
	require.NoError(t, err, "the server takes it")

	m = f.deadLetter(fn, false)
	require.Empty(t, m.Data)
	require.Equal(t, contract.CodeTransportError, m.Header.Get(contract.HeaderDLQCode))
}
