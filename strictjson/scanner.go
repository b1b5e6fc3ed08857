package strictjson

import (
	"unicode/utf8"
)

// Kind is the kind of value that starts at a Scanner's position.
type Kind uint8

// The kinds of values; Invalid where no value starts (or the text ended).
const (
	Invalid Kind = iota
	Null
	True
	False
	Number
	String
	Array
	Object
)

// kinds maps the first byte of a value to its kind.
var kinds = func() (t [256]Kind) {
	t['n'], t['t'], t['f'] = Null, True, False
	t['-'] = Number
	for c := '0'; c <= '9'; c++ {
		t[c] = Number
	}
	t['"'], t['['], t['{'] = String, Array, Object
	return t
}()

// Scanner reads one JSON text token by token, checking the grammar as it
// goes; a layer that needs every token (a re-encoder) walks the text with
// it, a layer that reads a few fields uses Members. Each method reads at
// the position (Kind, Key, Colon, More and Finish skip whitespace first) and
// advances past what it read; an error leaves the position undefined.
// Positions and bounds index Data. The zero Scanner is an empty text; Reset
// starts it on one.
type Scanner struct {
	data []byte
	pos  int
	mark uint64 // the mark byte in every byte of a word (SetMark), or 0
}

// Reset starts s at the beginning of data, refusing it (ErrInvalidUTF8) if
// it is not UTF-8.
func (s *Scanner) Reset(data []byte) error {
	s.data, s.pos = data, 0
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	return nil
}

// Data is the text being read.
func (s *Scanner) Data() []byte { return s.data }

func (s *Scanner) skipSpace() {
	d, i := s.data, s.pos // locals: the loop runs over every indentation byte
	for i < len(d) && d[i] <= ' ' && space[d[i]] {
		i++
	}
	s.pos = i
}

// space marks JSON's whitespace.
var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// Kind skips whitespace and returns the kind of the value that starts
// there, which the matching method reads: String, Number, Literal (Null,
// True, False), Open (Array, Object), or Skip for any.
func (s *Scanner) Kind() Kind {
	s.skipSpace()
	if s.pos < len(s.data) {
		return kinds[s.data[s.pos]]
	}
	return Invalid
}

// Finish skips whitespace and checks that the text ends there.
func (s *Scanner) Finish() error {
	s.skipSpace()
	if s.pos != len(s.data) {
		return ErrInvalidJSON
	}
	return nil
}

// Literal reads the null, true or false at the position and returns it.
func (s *Scanner) Literal() (string, error) {
	var lit string
	switch kinds[s.peek()] {
	case Null:
		lit = "null"
	case True:
		lit = "true"
	case False:
		lit = "false"
	default:
		return "", ErrInvalidJSON
	}
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return "", ErrInvalidJSON
	}
	s.pos += len(lit)
	return lit, nil
}

func (s *Scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// Open reads the '[' or '{' at the position and the whitespace after it,
// and, when the array or object is empty, its closing byte too (empty is
// then true). depth is the container's nesting: the arrays and objects
// around it, itself included (that of its elements); deeper than MaxDepth
// is ErrTooDeep. After Open come the elements, each followed by More; an
// object's members start with Key.
func (s *Scanner) Open(depth int) (empty bool, err error) {
	c := s.peek()
	if c != '[' && c != '{' {
		return false, ErrInvalidJSON
	}
	if depth > MaxDepth {
		return false, ErrTooDeep
	}
	closing := c + 2 // ']' and '}' follow their opening bytes in ASCII, one apart
	s.pos++
	s.skipSpace()
	if s.peek() == closing {
		s.pos++
		return true, nil
	}
	return false, nil
}

// More reads what follows an element or member: a comma (more is true:
// another one follows) or the closing byte of its container (false).
func (s *Scanner) More(closing byte) (more bool, err error) {
	s.skipSpace()
	if s.pos < len(s.data) {
		c := s.data[s.pos]
		s.pos++
		if c == ',' || c == closing {
			return c == ',', nil
		}
	}
	return false, ErrInvalidJSON
}

// Colon reads the colon between a member's name and its value.
func (s *Scanner) Colon() error {
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ':' {
		s.pos++
		return nil
	}
	return ErrInvalidJSON
}

// Key reads an object member's key (its contents are Data()[start:end],
// described by flags as for String) and the colon after it; the member's
// value follows.
func (s *Scanner) Key() (start, end int, flags StringFlags, err error) {
	s.skipSpace()
	start, end, flags, err = s.String()
	if err != nil {
		return 0, 0, 0, err
	}
	return start, end, flags, s.Colon()
}

// Number reads the number at the position, -?(0|[1-9][0-9]*)(\.[0-9]+)?
// ([eE][+-]?[0-9]+)?, and returns its bounds and whether it is an integer
// (no fraction, no exponent).
func (s *Scanner) Number() (start, end int, integer bool, err error) {
	d, i := s.data, s.pos
	start = i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return 0, 0, false, ErrInvalidJSON
	case d[i] == '0':
		i++
	case '1' <= d[i] && d[i] <= '9':
		i = skipDigits(d, i)
	default:
		return 0, 0, false, ErrInvalidJSON
	}
	integer = true
	if i < len(d) && d[i] == '.' {
		integer = false
		j := skipDigits(d, i+1)
		if j == i+1 {
			return 0, 0, false, ErrInvalidJSON
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := skipDigits(d, i)
		if j == i {
			return 0, 0, false, ErrInvalidJSON
		}
		i = j
	}
	s.pos = i
	return start, i, integer, nil
}

func skipDigits(d []byte, i int) int {
	for i < len(d) && '0' <= d[i] && d[i] <= '9' {
		i++
	}
	return i
}
