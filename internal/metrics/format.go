package metrics

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// maxExactInt is 2^53: every integer of smaller magnitude is exactly
// representable as a float64, so it can be printed without an exponent and
// read back unchanged.
const maxExactInt = 1 << 53

// appendFloat appends v the way Prometheus reads and writes sample values:
// "+Inf", "-Inf", "NaN", exact integers in plain decimal ("1000000", not
// "1e+06"), everything else as the shortest 'g' form that reads back to v.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < maxExactInt:
		return strconv.AppendInt(b, int64(v), 10)
	default:
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
}

// appendLabelValue appends s escaped for a quoted label value: backslash,
// double quote and newline are escaped, and invalid UTF-8 becomes U+FFFD.
func appendLabelValue(b []byte, s string) []byte {
	return appendEscaped(b, s, true)
}

// appendHelp appends s escaped for a # HELP line: backslash and newline are
// escaped (a double quote is not, per the format), and invalid UTF-8
// becomes U+FFFD.
func appendHelp(b []byte, s string) []byte {
	return appendEscaped(b, s, false)
}

func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				b = append(b, `\\`...)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '"' && quote:
				b = append(b, `\"`...)
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// validMetricName reports whether s is a Prometheus metric name,
// [a-zA-Z_:][a-zA-Z0-9_:]*, and does not use the reserved "__" prefix.
func validMetricName(s string) bool {
	return validName(s, true)
}

// validLabelName reports whether s is a Prometheus label name,
// [a-zA-Z_][a-zA-Z0-9_]*, and does not use the reserved "__" prefix.
func validLabelName(s string) bool {
	return validName(s, false)
}

func validName(s string, colon bool) bool {
	if s == "" || (len(s) >= 2 && s[0] == '_' && s[1] == '_') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(colon && c == ':') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}
