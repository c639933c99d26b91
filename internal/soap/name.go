package soap

import "unicode/utf8"

// MaxNameBytes is the longest name ValidName accepts, in bytes.
const MaxNameBytes = 256

// ValidName reports whether s may name a field of the API: an operation,
// a Structure property, a ValueTable column or a plain child element. It
// is the one rule of names: the catalogue checks a command's fields with
// it, and the encoder refuses any other name.
//
// The rule is XML 1.0's NCName (fifth edition, section 2.3, without the
// colon), the type 1C's core schema gives a Structure's property names:
// a letter or '_' first, then letters, digits, '-', '.', '_', U+00B7 and
// combining marks, where "letter" is any character of the ranges XML
// lists (so Cyrillic, as in Имя, is a name), in valid UTF-8, at most
// MaxNameBytes long.
//
// A property name travels in an attribute and a column name as text,
// where any such name reads back unchanged. Plain children and operations
// are element names, which encoding/xml (this package's decoder) checks
// against the older tables of XML 1.0's fourth edition: letters of
// scripts added to Unicode since 2.0 are names there only as properties
// and columns. The catalogue's plain children are all ASCII.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameBytes {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// The common case: ASCII letters, '_', then digits, '-', '.'.
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '.'):
			default:
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !isNameStartRune(r) && (i == 0 || !isNameRune(r)) {
			return false
		}
		i += n
	}
	return true
}

// isNameStartRune is NameStartChar of XML 1.0 (fifth edition) outside
// ASCII.
func isNameStartRune(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

// isNameRune is the rest of NameChar of XML 1.0 (fifth edition) outside
// ASCII: what may follow the first character besides a NameStartChar.
func isNameRune(r rune) bool {
	return r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}
