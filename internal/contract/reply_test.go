package contract_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// workerPolicy is the policy the worker uses: the defaults, and its own
// subjects denied.
func workerPolicy() contract.ReplyPolicy {
	return contract.ReplyPolicy{Deny: []string{"connect.cmd.>", "connect.result.>", "connect.dlq.>"}}
}

func TestReplyPolicyCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		policy  contract.ReplyPolicy
		subject string
		wantErr string // "" when allowed
	}{
		{"inbox", workerPolicy(), "_INBOX.abc", ""},
		{"nested inbox", workerPolicy(), "_INBOX.Yd0Lz6PfoPMGT8kHWMKW2b.17", ""},
		{"reply space", workerPolicy(), "connect.reply.billing.42", ""},
		{"non-ASCII token", workerPolicy(), "_INBOX.заказ", ""},
		{"partial wildcard is a literal in NATS", workerPolicy(), "_INBOX.a*b", ""},
		{"256 bytes", workerPolicy(), "_INBOX." + strings.Repeat("x", 249), ""},
		{"kv bucket", workerPolicy(), "$KV.CONNECT_QUOTA.op.ClientUserEdit.123", `"$KV.CONNECT_QUOTA.op.ClientUserEdit.123" refused: a system subject`},
		{"jetstream api", workerPolicy(), "$JS.API.STREAM.DELETE.CONNECT_CMD", "refused: a system subject"},
		{"system account", workerPolicy(), "$SYS.REQ.SERVER.PING", "a system subject"},
		{"$ even when allowed", contract.ReplyPolicy{Allow: []string{">"}}, "$O.bucket.x", "a system subject"},
		{"result subject", workerPolicy(), "connect.result.X", `"connect.result.X" refused: it is under connect.result.>, which replies may not use`},
		{"command subject", workerPolicy(), "connect.cmd.ClientUserEdit", "under connect.cmd.>"},
		{"deny wins over allow", contract.ReplyPolicy{Allow: []string{"connect.>"}, Deny: []string{"connect.cmd.>"}}, "connect.cmd.X", "under connect.cmd.>"},
		{"5 KB", workerPolicy(), "_INBOX." + strings.Repeat("a", 5<<10), `refused: longer than 256 bytes`},
		{"257 bytes", workerPolicy(), "_INBOX." + strings.Repeat("x", 250), "longer than 256 bytes"},
		{"custom max", contract.ReplyPolicy{MaxLen: 10}, "_INBOX.abcd", "longer than 10 bytes"},
		{"wildcard >", workerPolicy(), "_INBOX.>", `the wildcard token ">" (byte 7): a reply goes to one subject`},
		{"wildcard *", workerPolicy(), "_INBOX.*.x", `the wildcard token "*"`},
		{"empty token", workerPolicy(), "_INBOX..x", "an empty token (byte 7)"},
		{"leading dot", workerPolicy(), "._INBOX.x", "an empty token (byte 0)"},
		{"trailing dot", workerPolicy(), "_INBOX.x.", "an empty token (byte 9)"},
		{"space", workerPolicy(), "foo bar", `"foo bar" refused: whitespace (byte 3)`},
		{"tab", workerPolicy(), "_INBOX.a\tb", "whitespace (byte 8)"},
		{"CRLF injection", workerPolicy(), "_INBOX.a\r\nPUB x 1", "whitespace (byte 8)"},
		{"NUL", workerPolicy(), "_INBOX.a\x00", "control character U+0000"},
		{"invalid UTF-8", workerPolicy(), "_INBOX.a\xff", "not valid UTF-8 (byte 8)"},
		{"empty", workerPolicy(), "", `"" refused: empty`},
		{"not allowed", workerPolicy(), "orders.replies", "it matches none of _INBOX.>, connect.reply.>"},
		{"> needs a token", workerPolicy(), "connect.reply", "matches none"},
		{"* matches one token", contract.ReplyPolicy{Allow: []string{"svc.*.reply"}}, "svc.a.reply", ""},
		{"* is not two tokens", contract.ReplyPolicy{Allow: []string{"svc.*.reply"}}, "svc.a.b.reply", "matches none of svc.*.reply"},
		{"literal pattern", contract.ReplyPolicy{Allow: []string{"svc.reply"}}, "svc.reply", ""},
		{"literal is not a prefix", contract.ReplyPolicy{Allow: []string{"svc.reply"}}, "svc.reply.x", "matches none"},
		{"invalid policy refuses all", contract.ReplyPolicy{Deny: []string{"connect..cmd"}}, "_INBOX.abc", `reply policy: Deny pattern "connect..cmd": an empty token`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.policy.Check(tc.subject)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestReplyErrorsAreShortAndEscaped(t *testing.T) {
	t.Parallel()
	long := "_INBOX." + strings.Repeat("a", 5<<10)
	err := workerPolicy().Check(long)
	require.EqualError(t, err, `contract: reply subject "_INBOX.`+strings.Repeat("a", 57)+`"… (5127 bytes) refused: longer than 256 bytes`)

	err = workerPolicy().Check("_INBOX.\x1b[31mred\nx")
	require.ErrorContains(t, err, `"_INBOX.\x1b[31mred\nx" refused`)
	require.NotContains(t, err.Error(), "\x1b", "control characters are escaped")
	require.NotContains(t, err.Error(), "\n")

	// Cut at a rune boundary: 64 bytes would split a Cyrillic letter.
	err = workerPolicy().Check("_INBOX." + strings.Repeat("я", 200))
	msg := err.Error()
	require.Contains(t, msg, `"… (407 bytes)`)
	require.NotContains(t, msg, `\x`, "no split rune")
}

func TestReplyPolicyValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		policy  contract.ReplyPolicy
		wantErr string
	}{
		{"zero value", contract.ReplyPolicy{}, ""},
		{"worker's", workerPolicy(), ""},
		{"max 4000", contract.ReplyPolicy{MaxLen: 4000}, ""},
		{"max 4001", contract.ReplyPolicy{MaxLen: 4001}, "MaxLen 4001"},
		{"negative max", contract.ReplyPolicy{MaxLen: -1}, "MaxLen -1"},
		{"> in the middle", contract.ReplyPolicy{Allow: []string{"a.>.b"}}, "'>' before the last token"},
		{"empty pattern", contract.ReplyPolicy{Deny: []string{""}}, "Deny pattern \"\": empty"},
		{"space in a pattern", contract.ReplyPolicy{Allow: []string{"a b"}}, "whitespace"},
		{"allow $", contract.ReplyPolicy{Allow: []string{"$KV.>"}}, "can never match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.policy.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
