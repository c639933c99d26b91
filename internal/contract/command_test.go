package contract_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

func TestReadCommandFormat(t *testing.T) {
	t.Parallel()
	jsonCmd := []byte(`{"id":"j-1","fields":{"Name":"Анна"}}`)
	mpCmd := mp(t, map[string]any{"id": "m-1", "fields": map[string]any{"N": 1}})
	cases := []struct {
		name        string
		contentType string
		payload     []byte
		want        contract.Format
		wantID      string // "" when an error is expected
		wantErr     string
	}{
		{"json by header", "application/json", jsonCmd, contract.JSON, "j-1", ""},
		{"json by header with charset", " Application/JSON ; charset=utf-8", jsonCmd, contract.JSON, "j-1", ""},
		{"json by brace", "", []byte(" \n\t" + string(jsonCmd)), contract.JSON, "j-1", ""},
		{"json by brace, unknown header", "text/plain", jsonCmd, contract.JSON, "j-1", ""},
		{"msgpack by header", contract.ContentTypeMsgPack, mpCmd, contract.MsgPack, "m-1", ""},
		{"msgpack by x- header", "application/x-msgpack", mpCmd, contract.MsgPack, "m-1", ""},
		{"msgpack sniffed", "", mpCmd, contract.MsgPack, "m-1", ""},
		{"json header wins over msgpack bytes", "application/json", mpCmd, contract.JSON, "", "not valid UTF-8"},
		{"msgpack header wins over a brace", contract.ContentTypeMsgPack, jsonCmd, contract.MsgPack, "", "not a msgpack command map"},
		{"readable msgpack without an id", "", mp(t, map[string]any{"fields": map[string]any{}}), contract.MsgPack, "", `no "id"`},
		{"msgpack map breaking a rule", "", inFields(mpStr("\xff")), contract.MsgPack, "", "not valid UTF-8"},
		{"plain text", "", []byte("hello, worker"), contract.JSON, "", "neither a JSON object"},
		{"plain text header", "text/plain", []byte("ClientUserEdit please"), contract.JSON, "", "neither a JSON object"},
		{"empty", "", nil, contract.JSON, "", "empty payload"},
		{"a msgpack integer", "", []byte("5"), contract.JSON, "", "it is a msgpack integer"},
		{"a msgpack array", "", mp(t, []any{"id", "x"}), contract.JSON, "", "it is a msgpack array"},
		{"map32 bomb", "", cat(header(0xdf, 4, 1<<32-1), pad(16)), contract.JSON, "", "map declares 4294967295 entries"},
		{"truncated msgpack", "", mpCmd[:len(mpCmd)-1], contract.JSON, "", "neither a JSON object"},
		{"json array", "", []byte(`[{"id":"x"}]`), contract.JSON, "", "neither a JSON object"},
		{"json array by header", "application/json", []byte(`[{"id":"x"}]`), contract.JSON, "", "it is an array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f, err := contract.ReadCommand(tc.contentType, tc.payload)
			require.Equal(t, tc.want, f)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantID, c.ID)
			require.NotNil(t, c.Fields)
		})
	}
}

func TestDecodeCommandJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		payload string
		wantErr string // "" for a valid command
	}{
		{"valid", `{"id":"a","fields":{"N":1},"meta":{"x":[1,2]}}`, ""},
		{"null fields", `{"id":"a","fields":null}`, ""},
		{"spaces everywhere", " { \"id\" : \"a\" ,\n \"fields\" : { \"N\" : 1 , \"M\" : [ ] } } ", ""},
		{"field twice", `{"id":"a","fields":{"Password":"x","Name":"n","Password":"y"}}`, `command has field "Password" twice`},
		{"long field twice", `{"id":"a","fields":{"` + strings.Repeat("f", 100) + `":1,"` + strings.Repeat("f", 100) + `":2}}`, `field "` + strings.Repeat("f", 64) + `"… (100 bytes) twice`},
		{"fields a number", `{"id":"a","fields":5}`, `"fields" is a number, want an object`},
		{"fields truncated", `{"id":"a","fields":{"N":`, "unexpected EOF"},
		{"invalid UTF-8 in the id", "{\"id\":\"a\xffb\"}", "byte 8: not valid UTF-8"},
		{"invalid UTF-8 in a field", "{\"id\":\"a\",\"fields\":{\"N\":\"\xc3\"}}", "byte 25: not valid UTF-8"},
		{"lone high surrogate", `{"id":"a\ud800"}`, "byte 8: \\u escape of a lone UTF-16 high surrogate"},
		{"lone low surrogate", `{"id":"a\udc00"}`, "lone UTF-16 low surrogate"},
		{"high surrogate then a letter", `{"id":"\ud800\u0041"}`, "high surrogate"},
		{"a surrogate pair", `{"id":"\ud83d\ude00"}`, ""},
		{"an escaped backslash before u", `{"id":"\\ud800"}`, ""},
		{"id twice", `{"id":"a","id":"b"}`, `"id" twice`},
		{"fields twice", `{"id":"a","fields":{},"fields":{}}`, `"fields" twice`},
		{"ID in capitals", `{"ID":"a"}`, `command key "ID": the keys are "id" and "fields", in lower case`},
		{"trailing object", `{"id":"a"} {}`, "data after the JSON object (byte 11)"},
		{"trailing bracket", `{"id":"a"}]`, "data after the JSON object"},
		{"trailing space", "{\"id\":\"a\"} \n", ""},
		{"truncated", `{"id":`, "not a JSON command object"},
		{"fields an array", `{"id":"a","fields":[1]}`, `"fields" is an array, want an object`},
		{"fields a string", `{"id":"a","fields":"x"}`, `"fields" is a string, want an object`},
		{"id a number", `{"id":5}`, `"id" is a number, want a string`},
		{"id an object", `{"id":{}}`, `"id" is an object, want a string`},
		{"id null", `{"id":null}`, `no "id"`},
		{"id with a newline", `{"id":"a\nb"}`, `"id" holds the control character U+000A (byte 1)`},
		{"id too long", `{"id":"` + strings.Repeat("я", 129) + `"}`, `"id" is 258 bytes, longer than 256`},
		{"depth 16", `{"id":"a","fields":{"v":` + strings.Repeat("[", 14) + strings.Repeat("]", 14) + `}}`, ""},
		{"depth 17", `{"id":"a","fields":{"v":` + strings.Repeat("[", 15) + strings.Repeat("]", 15) + `}}`, "nested deeper than 16"},
		{"brackets inside strings do not count", `{"id":"a","fields":{"v":"` + strings.Repeat("[", 100) + `"}}`, ""},
		{"deep bomb", `{"id":"a","fields":{"v":` + strings.Repeat("[", 100000), "byte 38: objects and arrays nested deeper than 16"},
		{"many containers", `{"id":"a","fields":{"v":[` + strings.Repeat("{},", 100) + `{}]}}`, "more than 64 objects and arrays"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := contract.DecodeCommand(contract.JSON, []byte(tc.payload))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, contract.ValidID(c.ID))
		})
	}
}

// TestInvalidUTF8IdsDoNotCollide is the bug: encoding/json turned both
// ids into "a\uFFFD", one command.
func TestInvalidUTF8IdsDoNotCollide(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"{\"id\":\"a\xff\"}", "{\"id\":\"a\xfe\"}", `{"id":"a\ud800"}`, `{"id":"a\udbff"}`} {
		_, _, err := contract.ReadCommand("", []byte(p))
		require.Error(t, err, "%q", p)
	}
	// And a real U+FFFD is refused too: it is what a lossy decoder upstream
	// leaves.
	_, _, err := contract.ReadCommand("", []byte(`{"id":"a\ufffd"}`))
	require.ErrorContains(t, err, "U+FFFD")
}

// TestDecodeErrorsQuoteNoValue: an error explains the payload without
// repeating what it holds.
func TestDecodeErrorsQuoteNoValue(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-SECRET"
	payloads := []string{
		`{"id":"a","fields":{"Password":"` + secret + `"},}`,
		`{"id":"a","fields":{"Password":"` + secret + `"}} x`,
		`{"id":"` + secret + "\x01" + `"}`,
		`{"id":["` + secret + `"]}`,
		`{"id":"a","fields":"` + secret + `"}`,
		`{"id":"a","fields":{"Password":"` + secret + "\xff" + `"}}`,
		`{"id":"a","fields":{"Password":` + secret + `}}`,
		secret,
	}
	for _, p := range payloads {
		for _, ct := range []string{"", contract.ContentTypeJSON, contract.ContentTypeMsgPack} {
			_, _, err := contract.ReadCommand(ct, []byte(p))
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret, "payload %q", p)
		}
	}
	msgpacks := [][]byte{
		inFields(mpStr(secret + "\xff")),
		cat(asID(mpStr(secret+"\x07")), pad(0)),
		cat(mp(t, map[string]any{"id": "a", "fields": map[string]any{"Password": secret}}), []byte{0xc0}),
		cat([]byte{0x82}, mpStr("id"), []byte{0x92}, mpStr(secret), mpStr(secret)),
	}
	for _, p := range msgpacks {
		_, _, err := contract.ReadCommand("", p)
		require.Error(t, err)
		require.NotContains(t, err.Error(), secret)
	}
}
