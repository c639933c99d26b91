package contract

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultReplyMaxLen is the longest reply subject ReplyPolicy allows by
// default, in bytes. The subject travels in NATS control lines of at most
// 4096 bytes: the worker's "HPUB <subject> <header bytes> <total bytes>"
// (the server's max_control_line default) and the subscriber's "HMSG
// <subject> <sid> <header bytes> <total bytes>" (nats.go parses it in a
// 4096-byte buffer). Headers travel after the line and count in the
// payload, not in it. 256 bytes plus the ~40 of the rest stays far below
// the limit, and is longer than any inbox a client makes
// (_INBOX.<22-character nuid>.<token>) or any subject a service names by
// hand.
const DefaultReplyMaxLen = 256

// maxReplyMaxLen is the largest MaxLen a ReplyPolicy may set: the control
// line's 4096 bytes less room for "HMSG ", a subscription id, the two
// sizes and CRLF.
const maxReplyMaxLen = 4000

// DefaultReplyAllow returns the patterns a reply subject must match when
// a ReplyPolicy names none: client inboxes and the contract's own reply
// space.
func DefaultReplyAllow() []string { return []string{"_INBOX.>", "connect.reply.>"} }

// ReplyPolicy decides which subjects a command's Connect-Reply-To header
// may name. A command's producer picks that subject and the worker
// publishes to it, so without a policy a producer could make the worker
// write into a key-value bucket ($KV…), call the JetStream API ($JS.API…)
// or forge commands and results on the worker's own subjects.
//
// Patterns use NATS wildcards: '*' matches one token, '>' (last only)
// one or more tokens. The zero value is the default policy.
type ReplyPolicy struct {
	// Allow lists the patterns a reply subject must match, at least one.
	// Defaults to DefaultReplyAllow() when empty.
	Allow []string
	// Deny lists patterns no reply subject may match, whatever Allow says;
	// the worker passes its own subjects here (connect.cmd.>,
	// connect.result.>, connect.dlq.>…). Subjects whose first token
	// starts with '$' ($JS, $KV, $O, $SYS…) are always denied.
	Deny []string
	// MaxLen bounds a reply subject, in bytes, at most 4000. Defaults to
	// DefaultReplyMaxLen when zero.
	MaxLen int
}

// Validate checks the policy itself: MaxLen in range and every pattern a
// valid NATS subject pattern; an Allow pattern that can only match '$'
// subjects is an error, since it would never allow anything. Check refuses
// every subject while the policy is invalid, so a mistyped Deny pattern
// never lets a subject through.
func (p ReplyPolicy) Validate() error {
	if p.MaxLen < 0 || p.MaxLen > maxReplyMaxLen {
		return fmt.Errorf("contract: reply policy: MaxLen %d: want 0 (the default, %d) to %d bytes", p.MaxLen, DefaultReplyMaxLen, maxReplyMaxLen)
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"Allow", p.Allow}, {"Deny", p.Deny}} {
		for _, pat := range list.patterns {
			if why := subjectProblem(pat, true); why != "" {
				return fmt.Errorf("contract: reply policy: %s pattern %s: %s", list.name, quoteCut(pat), why)
			}
			if list.name == "Allow" && pat[0] == '$' {
				return fmt.Errorf("contract: reply policy: Allow pattern %s can never match: '$' subjects are never reply subjects", quoteCut(pat))
			}
		}
	}
	return nil
}

// Check returns nil when the worker may publish a command's result to
// subject, else an error that names the subject (quoted, cut to 64
// bytes) and why it is refused: it must be a valid subject to publish to
// (non-empty tokens separated by '.', no whitespace or control
// characters, valid UTF-8, no '*' or '>' token, at most MaxLen bytes), its
// first token must not start with '$', it must match no Deny pattern and
// at least one Allow pattern.
func (p ReplyPolicy) Check(subject string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	refuse := func(why string) error {
		return fmt.Errorf("contract: reply subject %s refused: %s", quoteCut(subject), why)
	}
	if max := p.maxLen(); len(subject) > max {
		return refuse(fmt.Sprintf("longer than %d bytes", max))
	}
	if why := subjectProblem(subject, false); why != "" {
		return refuse(why)
	}
	if subject[0] == '$' {
		return refuse("a system subject ($JS, $KV, $O, $SYS…) is never a reply subject")
	}
	for _, pat := range p.Deny {
		if subjectMatch(pat, subject) {
			return refuse("it is under " + pat + ", which replies may not use")
		}
	}
	allow := p.Allow
	if len(allow) == 0 {
		allow = DefaultReplyAllow()
	}
	for _, pat := range allow {
		if subjectMatch(pat, subject) {
			return nil
		}
	}
	return refuse("it matches none of " + strings.Join(allow, ", "))
}

// maxLen is MaxLen with its default.
func (p ReplyPolicy) maxLen() int {
	if p.MaxLen == 0 {
		return DefaultReplyMaxLen
	}
	return p.MaxLen
}

// subjectProblem says what makes s no NATS subject ("" when it is one).
// With pattern set, '*' and a final '>' tokens are wildcards and allowed;
// without, they are refused, since a reply goes to one subject.
func subjectProblem(s string, pattern bool) string {
	if s == "" {
		return "empty"
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return fmt.Sprintf("not valid UTF-8 (byte %d)", i)
			}
		case unicode.IsSpace(r):
			return fmt.Sprintf("whitespace (byte %d)", i)
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("the control character %U (byte %d)", r, i)
		}
	}
	at := 0
	for rest := s; ; {
		tok, after, more := strings.Cut(rest, ".")
		switch {
		case tok == "":
			return fmt.Sprintf("an empty token (byte %d)", at)
		case !pattern && (tok == "*" || tok == ">"):
			return fmt.Sprintf("the wildcard token %q (byte %d): a reply goes to one subject", tok, at)
		case pattern && tok == ">" && more:
			return fmt.Sprintf("'>' before the last token (byte %d)", at)
		}
		if !more {
			return ""
		}
		at += len(tok) + 1
		rest = after
	}
}

// subjectMatch reports whether subject, a valid literal subject, matches
// pattern, a valid pattern.
func subjectMatch(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		if pt == ">" {
			return true // subject has at least one token left
		}
		st, srest, smore := strings.Cut(subject, ".")
		if pt != "*" && pt != st {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// quoteCut quotes s, a subject or a name from a payload, for an error: control characters and bad bytes
// escaped, at most 64 bytes of it (cut at a rune boundary), and when cut,
// "…" and its length after the quote.
func quoteCut(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(s[cut]); i++ {
		cut-- // a rune is at most 4 bytes; bad bytes are cut anywhere
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
