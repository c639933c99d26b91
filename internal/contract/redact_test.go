package contract_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// secretValue is the password in every payload below; it must appear in
// no output.
const secretValue = "hunter2-SECRET"

func TestRedact(t *testing.T) {
	t.Parallel()
	// Built by hand: msgpack.Marshal writes a Go map in random order, and
	// the truncated case below must cut the password, not the name.
	readableMP := cat([]byte{0x82}, mpStr("id"), mpStr("c-1"), mpStr("fields"), []byte{0x82}, mpStr("Name"), mpStr("Анна"), mpStr("Password"), mpStr(secretValue))
	cases := []struct {
		name    string
		format  contract.Format
		payload []byte
		// readable: the output is a command with the same id whose
		// Password is Redacted and whose Name survives.
		readable bool
		keep     string // a substring the output must keep
	}{
		{"json", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":"` + secretValue + `"}}`), true, "Анна"},
		{"json, lower-case key", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","password":"` + secretValue + `"}}`), true, "Анна"},
		{"json, escaped key", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Pass\u0077ord":"` + secretValue + `"}}`), true, "Анна"},
		{"json, key twice", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":"` + secretValue + `","PASSWORD":"` + secretValue + `"}}`), true, "Анна"},
		{"json, nested value", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Extra":{"Password":"` + secretValue + `"}}}`), true, "Анна"},
		{"json, number password", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":123456789}}`), true, "Анна"},
		{"json read as msgpack", contract.MsgPack, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":"` + secretValue + `"}}`), true, "Анна"},
		{"msgpack", contract.MsgPack, readableMP, true, "Анна"},
		{"msgpack read as json", contract.JSON, readableMP, true, "Анна"},
		{"msgpack, nested in an array", contract.MsgPack, mp(t, map[string]any{"id": "c-1", "fields": map[string]any{"Name": "Анна", "L": []any{map[string]any{"password": secretValue}}}}), true, "Анна"},
		{"msgpack, password as bytes", contract.MsgPack, mp(t, map[string]any{"id": "c-1", "fields": map[string]any{"Name": "Анна", "Password": []byte(secretValue)}}), true, "Анна"},
		{"msgpack, bad id still redacted", contract.MsgPack, mp(t, map[string]any{"id": 5, "fields": map[string]any{"Name": "Анна", "Password": secretValue}}), false, "Анна"},
		{"json, bad id still redacted", contract.JSON, []byte(`{"id":5,"fields":{"Name":"Анна","Password":"` + secretValue + `"}}`), false, "Анна"},
		// Unreadable payloads: the best effort.
		{"json truncated", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password" : "` + secretValue + `"`), false, "Анна"},
		{"json unterminated password", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":"` + secretValue), false, "Анна"},
		{"json invalid UTF-8", contract.JSON, []byte("{\"id\":\"c-1\xff\",\"fields\":{\"Name\":\"Анна\",\"Password\":\"" + secretValue + "\"}}"), false, "Анна"},
		{"json bare password", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":` + secretValue + `}`), false, "Анна"},
		{"json object password", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":{"x":"` + secretValue + `"}},}`), false, "Анна"},
		{"json, quotes misaligned before", contract.JSON, []byte(`xx" {"Name":"Анна","Password": "` + secretValue + `"`), false, "Анна"},
		{"json too deep", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","Password":"` + secretValue + `","v":` + string(repeat([]byte("["), 40)) + `}}`), false, "Анна"},
		{"msgpack truncated", contract.MsgPack, readableMP[:len(readableMP)-2], false, "Анна"},
		{"msgpack trailing garbage", contract.MsgPack, cat(readableMP, []byte{0xc1, 0xc1}), false, "Анна"},
		{"msgpack, password then a bomb", contract.MsgPack, cat(inFields(mpStr("Анна")), mpStr("Password"), header(0xdb, 4, 1<<32-1), []byte(secretValue)), false, "Анна"},
		{"msgpack, invalid UTF-8 elsewhere", contract.MsgPack, mp(t, map[string]any{"id": "c-1", "fields": map[string]any{"Name": "Анна", "Bad": []byte{0xff}, "Password": secretValue}}), true, "Анна"},
		{"msgpack, str8 and str16 keys", contract.MsgPack, cat([]byte{0x82}, mpStr("id"), mpStr("c-1"), mpStr("fields"), []byte{0x82}, []byte{0xd9, 4}, []byte("Name"), mpStr("Анна"), []byte{0xda, 0, 8}, []byte("Password"), mpStr(secretValue)), true, "Анна"},
		{"msgpack, str32 key", contract.MsgPack, cat([]byte{0x82}, mpStr("id"), mpStr("c-1"), mpStr("fields"), []byte{0x82}, mpStr("Name"), mpStr("Анна"), []byte{0xdb, 0, 0, 0, 8}, []byte("password"), mpStr(secretValue)), true, "Анна"},
		{"msgpack, str8 key", contract.MsgPack, cat([]byte{0x81}, []byte{0xd9, 8}, []byte("Password"), mpStr(secretValue), []byte{0xc1}), false, ""},
		{"plain text with json inside", contract.JSON, []byte(`please run "Password": "` + secretValue + `" thanks`), false, "please run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := bytes.Clone(tc.payload)
			out := contract.Redact(tc.format, tc.payload, nil)
			require.Equal(t, in, tc.payload, "the payload is not modified")
			require.NotContains(t, string(out), secretValue)
			require.NotContains(t, string(out), "123456789")
			require.Contains(t, string(out), tc.keep)
			if !tc.readable {
				return
			}
			c, _, err := contract.ReadCommand("", out)
			require.NoError(t, err)
			require.Equal(t, "c-1", c.ID)
			require.Equal(t, "Анна", c.Fields["Name"])
			for k, v := range c.Fields {
				if k == "Password" || k == "password" || k == "PASSWORD" || k == "Pass\u0077ord" {
					require.Equal(t, contract.Redacted, v)
				}
			}
		})
	}
}

func TestRedactLeavesOtherPayloads(t *testing.T) {
	t.Parallel()
	for _, p := range [][]byte{
		[]byte(`{"id":"c-1","fields":{"Name":"Анна"}}`),
		mp(t, map[string]any{"id": "c-1", "fields": map[string]any{"Name": "Анна"}}),
		[]byte("hello"),
		nil,
	} {
		require.Equal(t, p, contract.Redact(contract.JSON, p, nil))
	}
}

func TestRedactMsgpackKeepsOtherBytes(t *testing.T) {
	t.Parallel()
	// Only the secret's bytes change: the rest, key order included, is the
	// producer's payload.
	p := cat([]byte{0x83}, mpStr("id"), mpStr("c-1"), mpStr("fields"), []byte{0x82}, mpStr("Password"), mpStr(secretValue), mpStr("Z"), []byte{0x01}, mpStr("x"), []byte{0xc3})
	want := cat([]byte{0x83}, mpStr("id"), mpStr("c-1"), mpStr("fields"), []byte{0x82}, mpStr("Password"), mpStr(contract.Redacted), mpStr("Z"), []byte{0x01}, mpStr("x"), []byte{0xc3})
	require.Equal(t, want, contract.Redact(contract.MsgPack, p, nil))
}

func TestSecretFields(t *testing.T) {
	t.Parallel()
	def := contract.SecretFields()
	require.True(t, def("Password"))
	require.True(t, def("password"))
	require.True(t, def("PASSWORD"))
	require.False(t, def("Passwords"))
	require.False(t, def("Name"))
	custom := contract.SecretFields("Token", "PIN")
	require.True(t, custom("token"))
	require.True(t, custom("pin"))
	require.False(t, custom("Password"), "names replace the default")
	require.Equal(t, []string{"Password"}, contract.SecretFieldsDefault())
}
