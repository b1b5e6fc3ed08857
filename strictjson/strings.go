package strictjson

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// StringFlags describe the contents of a string String read.
type StringFlags uint8

// Escaped: the contents hold escape sequences (Unescape decodes them).
// Without it they are the string's characters, as valid UTF-8 without
// control bytes, quotes or backslashes.
const Escaped StringFlags = 1

// String reads the string at the position and returns the bounds of its
// contents (without the quotes) in Data and what they hold. Escape
// sequences are checked (Unescape and DecodeEscape decode them); a lone
// surrogate escape is valid JSON and reported by those, not here.
func (s *Scanner) String() (start, end int, flags StringFlags, err error) {
	d, i := s.data, s.pos
	if i >= len(d) || d[i] != '"' {
		return 0, 0, 0, ErrInvalidJSON
	}
	start = i + 1
	for i = start; ; {
		// The plain run up to the next special byte: eight bytes at a
		// time, then, near the end of the text, one by one.
		found := false
		for ; i+8 <= len(d); i += 8 {
			if m := specialBytes(binary.LittleEndian.Uint64(d[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				found = true
				break
			}
		}
		if !found {
			for i < len(d) && !special[d[i]] {
				i++
			}
			if i >= len(d) {
				return 0, 0, 0, ErrInvalidJSON
			}
		}
		switch d[i] {
		case '"':
			s.pos = i + 1
			return start, i, flags, nil
		case '\\':
			flags |= Escaped
			if i = escapeEnd(d, i); i < 0 {
				return 0, 0, 0, ErrInvalidJSON
			}
		default: // a control byte
			return 0, 0, 0, ErrInvalidJSON
		}
	}
}

// Stop says what ends a part of a string's contents (StringPart).
type Stop uint8

const (
	// EndOfString: the closing quote; the string ended.
	EndOfString Stop = iota
	// EscapeStop: an escape sequence. Its character is the part's rune: a
	// \u escape of a high surrogate followed by one of a low surrogate is
	// one character beyond the BMP, any other surrogate escape is lone
	// and the rune is the surrogate itself, which is not a character.
	EscapeStop
	// MarkStop: the mark byte (SetMark) or a non-ASCII character, which is
	// the part's rune.
	MarkStop
)

// SetMark makes StringPart stop at the ASCII byte c and at non-ASCII
// characters as well as at escapes, for a re-encoder that writes them
// escaped; 0, the default, stops at escapes only. c must not be a control
// byte, the quote or the backslash. The mark lasts across Reset.
func (s *Scanner) SetMark(c byte) { s.mark = lsb * uint64(c) }

// OpenString reads the opening quote of the string at the position, whose
// contents StringPart then reads part by part, for a layer that rewrites
// them (a re-encoder): one pass, with every check of String.
func (s *Scanner) OpenString() error {
	if s.peek() != '"' {
		return ErrInvalidJSON
	}
	s.pos++
	return nil
}

// StringPart reads the contents of the string OpenString opened up to the
// next stop and the stop itself: Data()[start:end] are characters written
// as they are (valid UTF-8 without controls, quotes or backslashes; with a
// mark, ASCII without the mark), then comes the stop, whose character is r
// (for an escape or a mark). After EndOfString the string has been read.
func (s *Scanner) StringPart() (start, end int, stop Stop, r rune, err error) {
	d, mark := s.data, s.mark
	start = s.pos
	i, found := start, false
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		m := specialBytes(x)
		if mark != 0 {
			m |= x&msb | zeroBytes(x^mark)
		}
		if m != 0 {
			i += bits.TrailingZeros64(m) / 8
			found = true
			break
		}
	}
	if !found {
		for i < len(d) && !special[d[i]] && (mark == 0 || d[i] < utf8.RuneSelf && d[i] != byte(mark)) {
			i++
		}
		if i >= len(d) {
			return 0, 0, 0, 0, ErrInvalidJSON
		}
	}
	switch c := d[i]; {
	case c == '"':
		s.pos = i + 1
		return start, i, EndOfString, 0, nil
	case c == '\\':
		r, err := s.escape(i)
		return start, i, EscapeStop, r, err
	case c < 0x20:
		return 0, 0, 0, 0, ErrInvalidJSON
	case c < utf8.RuneSelf:
		s.pos = i + 1
		return start, i, MarkStop, rune(c), nil
	}
	r, size := utf8.DecodeRune(d[i:]) // valid: Reset checked the text
	s.pos = i + size
	return start, i, MarkStop, r, nil
}

// escape reads the escape sequence at d[i] for StringPart.
func (s *Scanner) escape(i int) (rune, error) {
	next := escapeEnd(s.data, i)
	if next < 0 {
		return 0, ErrInvalidJSON
	}
	r, size := DecodeEscape(s.data[i:])
	if size > next-i && escapeEnd(s.data, next) < 0 {
		// A pair: its low surrogate escape must be valid too.
		return 0, ErrInvalidJSON
	}
	s.pos = i + size
	return r, nil
}

// special marks the bytes that end a plain run of a string's contents: the
// quote, the backslash and the control bytes, which must be escaped.
var special = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// For reading eight bytes at a time, as a little-endian word: lsb has the
// low bit of each byte set, msb the high bit.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroBytes returns, for eight bytes read as a little-endian word, a mask
// whose lowest set bit is the high bit of the first zero byte (none if no
// byte is zero): zeroBytes(x ^ lsb*c) finds the first byte c. Above that
// byte the mask may have false bits (borrows), which are never read.
func zeroBytes(x uint64) uint64 { return (x - lsb) &^ x & msb }

// specialBytes is zeroBytes for the special bytes: the quote, the
// backslash, and the bytes below 0x20.
func specialBytes(x uint64) uint64 {
	return zeroBytes(x^(lsb*'"')) | zeroBytes(x^(lsb*'\\')) | (x-lsb*0x20)&^x&msb
}

// escapeEnd checks the escape sequence at d[i] (the backslash) and returns
// the index after it, or -1 if it is not one.
func escapeEnd(d []byte, i int) int {
	if i+1 >= len(d) {
		return -1
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		if i+6 > len(d) {
			return -1
		}
		for _, h := range d[i+2 : i+6] {
			if _, ok := hexVal(h); !ok {
				return -1
			}
		}
		return i + 6
	}
	return -1
}
