package strictjson

import (
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeEscape decodes the escape sequence at the start of raw (from its
// backslash, in a string the Scanner read): the character and the bytes it
// takes. A \u escape of a high surrogate followed by one of a low surrogate
// is one character beyond the BMP (12 bytes); any other surrogate escape is
// lone and returned as the surrogate itself (6 bytes), which is not a
// character: layers decide what it becomes (Unescape refuses it).
func DecodeEscape(raw []byte) (r rune, size int) {
	switch c := raw[1]; c {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
	default: // '"', '\\', '/'
		return rune(c), 2
	}
	r = hex4(raw[2:6])
	if r < 0xD800 || r >= 0xDC00 || len(raw) < 12 || raw[6] != '\\' || raw[7] != 'u' {
		return r, 6 // not a surrogate, a low one, or a high one without an escape after it
	}
	if pair := utf16.DecodeRune(r, hex4(raw[8:12])); pair != utf8.RuneError {
		return pair, 12
	}
	return r, 6
}

// Unescape appends the decoded contents of a string the Scanner read to
// dst. It reports false for a lone surrogate, which decoders repair in
// different ways.
func Unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := DecodeEscape(raw[i:])
		if utf16.IsSurrogate(r) {
			return dst, false
		}
		dst = utf8.AppendRune(dst, r)
		i += size
	}
	return dst, true
}

func hexVal(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// hex4 decodes four hex digits the Scanner checked.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		v, _ := hexVal(c)
		r = r<<4 | v
	}
	return r
}
