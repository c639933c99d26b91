package contract

import (
	"fmt"
	"unicode/utf8"
)

// This file is the pre-check of JSON payloads. encoding/json is not
// fooled by declared lengths (JSON has none), but it is lossy and deep:
//
//   - invalid UTF-8 inside a string becomes U+FFFD, silently, so two ids
//     that differ in their invalid bytes would decode to one;
//   - a \u escape of a lone UTF-16 surrogate (\ud800) becomes U+FFFD too,
//     the same collision through valid ASCII;
//   - it accepts 10000 levels of nesting, and builds a map or slice for
//     each. Command fields are scalars (the catalogue refuses objects and
//     arrays with a field error), so anything deeper than MaxDepth, or
//     with more than MaxContainers objects and arrays, is refused here
//     before a value is built.

// checkJSON refuses b when it is not valid UTF-8, holds a lone surrogate
// escape, or has objects and arrays beyond lim. It does not
// check the rest of JSON's syntax: encoding/json does. Errors name the
// byte offset.
func checkJSON(b []byte, lim scanLimits) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("byte %d: not valid UTF-8", invalidUTF8(b))
	}
	depth, containers := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
			containers++
			switch {
			case depth > lim.depth:
				return fmt.Errorf("byte %d: objects and arrays nested deeper than %d", i, lim.depth)
			case lim.containers > 0 && containers > lim.containers:
				return fmt.Errorf("byte %d: more than %d objects and arrays", i, lim.containers)
			}
		case '}', ']':
			depth-- // unbalanced input is encoding/json's to refuse
		case '"':
			end, err := jsonStringEnd(b, i)
			if err != nil {
				return err
			}
			i = end
		}
	}
	return nil
}

// jsonStringEnd returns the offset of the quote that closes the string
// opening at b[open], or len(b) when it is not closed. It refuses a \u
// escape of a UTF-16 surrogate that is not part of a pair.
func jsonStringEnd(b []byte, open int) (int, error) {
	for j := open + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j, nil
		case '\\':
			if j+1 >= len(b) {
				return len(b), nil
			}
			if b[j+1] != 'u' {
				j++ // the escaped byte
				continue
			}
			r, ok := hex4(b, j+2)
			if !ok {
				j++ // not an escape encoding/json accepts; it will say so
				continue
			}
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return 0, fmt.Errorf("byte %d: \\u escape of a lone UTF-16 low surrogate", j)
			case r >= 0xd800 && r <= 0xdbff:
				if j+11 < len(b) && b[j+6] == '\\' && b[j+7] == 'u' {
					if lo, ok := hex4(b, j+8); ok && lo >= 0xdc00 && lo <= 0xdfff {
						j += 11 // the pair
						continue
					}
				}
				return 0, fmt.Errorf("byte %d: \\u escape of a lone UTF-16 high surrogate", j)
			}
			j += 5
		}
	}
	return len(b), nil
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
