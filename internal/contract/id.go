package contract

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxIDLength bounds a command id, in bytes.
const MaxIDLength = 256

// ValidID checks the one rule for command ids, whether the id comes from
// the payload or from the Nats-Msg-Id header. Ids become key-value keys
// (OutcomeKey), message ids and log fields, and results carry them back,
// so an id must be:
//
//   - non-empty, and at most MaxIDLength bytes;
//   - valid UTF-8, without U+FFFD: the replacement character is what
//     every lossy decoder on the way puts for bytes that were not text,
//     so two ids that differ there would collide;
//   - free of control and format characters (Unicode Cc and Cf: C0, DEL,
//     C1, bidirectional overrides, zero-width characters) and of line and
//     paragraph separators (Zl, Zp), which rewrite or split a log line
//     and make two different ids look the same.
//
// Spaces and any other printable character are allowed. The error names
// the problem and the byte offset, never the id.
func ValidID(id string) error {
	if p := idProblem(id); p != "" {
		return errors.New("contract: id " + p)
	}
	return nil
}

// HeaderID returns the id a command's Nats-Msg-Id header h gives, for a
// command whose payload is unreadable: "" and nil when there is no
// header, h when it passes ValidID, and "" with an error saying why
// otherwise (a 5 KB header is not an id).
func HeaderID(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	if p := idProblem(h); p != "" {
		return "", errors.New("contract: " + HeaderMsgID + " header " + p)
	}
	return h, nil
}

// idProblem is ValidID's rule: "" when id is valid, else what is wrong,
// phrased to follow the id's name ("is empty").
func idProblem(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > MaxIDLength:
		return fmt.Sprintf("is %d bytes, longer than %d", len(id), MaxIDLength)
	}
	for i, r := range id {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(id[i:]); n == 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte %d)", i)
			}
			return fmt.Sprintf("holds U+FFFD, the replacement character (byte %d)", i)
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("holds the control character %U (byte %d)", r, i)
		}
	}
	return ""
}
