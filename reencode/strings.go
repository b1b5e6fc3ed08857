package reencode

import (
	"unicode/utf16"
	"unicode/utf8"
)

// The bytes each style copies from a string unchanged: printable ASCII other
// than the quote and backslash, except that PHP escapes the slash as "\/" and
// Python writes DEL as "\u007f". Everything else takes the slow path in str:
// escapes, control bytes (invalid in JSON strings) and non-ASCII (validated;
// JS copies it, Python and PHP write \u escapes).
var verbatimJS, verbatimPython, verbatimPHP = verbatimTable(JS), verbatimTable(Python), verbatimTable(PHP)

func verbatimTable(s Style) (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	switch s {
	case Python:
		t[0x7f] = false
	case PHP:
		t['/'] = false
	}
	return t
}

const hexDigits = "0123456789abcdef"

// str re-encodes the string at pos (its opening quote).
func (e *encoder) str() error {
	in, out, verbatim := e.in, append(e.out, '"'), e.verbatim
	i := e.pos + 1
	for {
		run := i
		for i < len(in) && verbatim[in[i]] {
			i++
		}
		out = append(out, in[run:i]...)
		if i >= len(in) {
			return ErrInvalidJSON
		}
		switch c := in[i]; {
		case c == '"':
			e.pos, e.out = i+1, append(out, '"')
			return nil
		case c == '\\':
			var err error
			if out, i, err = e.escape(out, i); err != nil {
				return err
			}
		case c < 0x20:
			return ErrInvalidJSON
		case c < utf8.RuneSelf:
			out = e.appendASCII(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size <= 1 {
				return ErrInvalidUTF8
			}
			if e.style == JS {
				out = append(out, in[i:i+size]...)
			} else {
				out = appendUnicodeEscape(out, r)
			}
			i += size
		}
	}
}

// escape re-encodes the escape sequence at in[i] (the backslash) and returns
// the index after it.
func (e *encoder) escape(out []byte, i int) ([]byte, int, error) {
	in := e.in
	if i+1 >= len(in) {
		return out, i, ErrInvalidJSON
	}
	switch c := in[i+1]; c {
	case '"', '\\', '/':
		return e.appendASCII(out, c), i + 2, nil
	case 'b':
		return append(out, '\\', 'b'), i + 2, nil
	case 'f':
		return append(out, '\\', 'f'), i + 2, nil
	case 'n':
		return append(out, '\\', 'n'), i + 2, nil
	case 'r':
		return append(out, '\\', 'r'), i + 2, nil
	case 't':
		return append(out, '\\', 't'), i + 2, nil
	case 'u':
		u, ok := hex4(in, i+2)
		if !ok {
			return out, i, ErrInvalidJSON
		}
		i += 6
		if !utf16.IsSurrogate(u) {
			return e.appendRune(out, u), i, nil
		}
		// A high surrogate followed by an escaped low surrogate is one
		// character; any other surrogate is lone. Python (and JS for lone
		// ones) write each UTF-16 unit as a lowercase \u escape, so only JS
		// (which writes pairs as UTF-8) and PHP (which refuses lone ones)
		// need to tell them apart.
		if u < 0xDC00 && i+1 < len(in) && in[i] == '\\' && in[i+1] == 'u' {
			if lo, ok := hex4(in, i+2); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				if e.style == JS {
					return utf8.AppendRune(out, utf16.DecodeRune(u, lo)), i + 6, nil
				}
				return appendUnitEscape(appendUnitEscape(out, u), lo), i + 6, nil
			}
		}
		if e.style == PHP {
			return out, i, ErrLoneSurrogate
		}
		return appendUnitEscape(out, u), i, nil
	}
	return out, i, ErrInvalidJSON
}

func hex4(in []byte, i int) (rune, bool) {
	if i+4 > len(in) {
		return 0, false
	}
	var r rune
	for _, c := range in[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendRune writes a character that is not a surrogate, from a \u escape.
func (e *encoder) appendRune(out []byte, r rune) []byte {
	switch {
	case r < utf8.RuneSelf:
		return e.appendASCII(out, byte(r))
	case e.style == JS:
		return utf8.AppendRune(out, r)
	}
	return appendUnicodeEscape(out, r)
}

// appendASCII writes an ASCII character as the style's serialiser does.
func (e *encoder) appendASCII(out []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(out, '\\', c)
	case '\b':
		return append(out, '\\', 'b')
	case '\f':
		return append(out, '\\', 'f')
	case '\n':
		return append(out, '\\', 'n')
	case '\r':
		return append(out, '\\', 'r')
	case '\t':
		return append(out, '\\', 't')
	case '/':
		if e.style == PHP {
			return append(out, '\\', '/')
		}
	case 0x7f:
		if e.style == Python {
			return appendUnitEscape(out, 0x7f)
		}
	}
	if c < 0x20 {
		return appendUnitEscape(out, rune(c))
	}
	return append(out, c)
}

// appendUnicodeEscape writes r as Python's ensure_ascii and PHP's default
// json_encode do: a lowercase \u escape, or a surrogate pair of them beyond
// the BMP.
func appendUnicodeEscape(out []byte, r rune) []byte {
	if r >= 0x10000 {
		hi, lo := utf16.EncodeRune(r)
		return appendUnitEscape(appendUnitEscape(out, hi), lo)
	}
	return appendUnitEscape(out, r)
}

func appendUnitEscape(out []byte, u rune) []byte {
	return append(out, '\\', 'u', hexDigits[u>>12&15], hexDigits[u>>8&15], hexDigits[u>>4&15], hexDigits[u&15])
}
