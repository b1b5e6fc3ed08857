package reencode

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/scgate/scgate/strictjson"
)

const hexDigits = "0123456789abcdef"

// str re-encodes the string at the scanner's position, part by part: the
// scanner stops at escapes and, for Python and PHP, at what they escape
// (its mark: non-ASCII and DEL or the slash).
func (e *encoder) str() error {
	if err := e.s.OpenString(); err != nil {
		return err
	}
	start, end, stop, r, err := e.s.StringPart()
	if err != nil {
		return err
	}
	if stop == strictjson.EndOfString {
		e.out = append(e.out, e.in[start-1:end+1]...) // as it is, with its quotes
		return nil
	}
	out := append(append(e.out, '"'), e.in[start:end]...)
	for stop != strictjson.EndOfString {
		switch {
		case r == '/' && stop == strictjson.MarkStop: // PHP
			out = append(out, '\\', '/')
		case r == 0x7f && stop == strictjson.MarkStop: // Python
			out = appendUnitEscape(out, r)
		default:
			out, err = e.appendChar(out, r)
		}
		if err != nil {
			return err
		}
		if start, end, stop, r, err = e.s.StringPart(); err != nil {
			return err
		}
		out = append(out, e.in[start:end]...)
	}
	e.out = append(out, '"')
	return nil
}

// appendChar writes the character of an escape sequence or a marked one
// (r; a lone surrogate from an escape) as the style's serialiser does.
func (e *encoder) appendChar(out []byte, r rune) ([]byte, error) {
	switch {
	case r < utf8.RuneSelf:
		return e.appendASCII(out, byte(r)), nil
	case utf16.IsSurrogate(r):
		// Python and JS write each lone UTF-16 unit as a lowercase \u
		// escape; PHP refuses it.
		if e.style == PHP {
			return out, ErrLoneSurrogate
		}
		return appendUnitEscape(out, r), nil
	case e.style == JS:
		return utf8.AppendRune(out, r), nil
	}
	return appendUnicodeEscape(out, r), nil
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
