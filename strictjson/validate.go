package strictjson

// Validate checks that data is one JSON value under every rule of the
// package: UTF-8, the grammar, MaxDepth, and no object that repeats a key or
// has a key with a lone surrogate escape. It returns one of the Err values.
func Validate(data []byte) error {
	var s Scanner
	if err := s.Reset(data); err != nil {
		return err
	}
	if err := s.Skip(0); err != nil {
		return err
	}
	return s.Finish()
}

// Skip reads the value at the position (after whitespace) under the rules
// of Validate; depth is the number of arrays and objects around it.
func (s *Scanner) Skip(depth int) error {
	switch s.Kind() {
	case String:
		_, _, _, err := s.String()
		return err
	case Number:
		_, _, _, err := s.Number()
		return err
	case Null, True, False:
		_, err := s.Literal()
		return err
	case Array:
		empty, err := s.Open(depth + 1)
		if empty || err != nil {
			return err
		}
		for {
			if err := s.Skip(depth + 1); err != nil {
				return err
			}
			if more, err := s.More(']'); !more || err != nil {
				return err
			}
		}
	case Object:
		return s.skipObject(depth + 1)
	}
	return ErrInvalidJSON
}

// skipObject is Skip of an object whose members are at depth; its own
// function, so that the key set takes stack space only for objects.
func (s *Scanner) skipObject(depth int) error {
	empty, err := s.Open(depth)
	if empty || err != nil {
		return err
	}
	var keys keySet
	for {
		ks, ke, flags, err := s.Key()
		if err != nil {
			return err
		}
		if err := keys.add(s.data, ks, ke, flags&Escaped != 0); err != nil {
			return err
		}
		if err := s.Skip(depth); err != nil {
			return err
		}
		if more, err := s.More('}'); !more || err != nil {
			return err
		}
	}
}

// Members reads the members of a text that must be one JSON object, under
// the rules of Validate, for a layer that reads some of its fields: Reset,
// then Next for each member until it reports that none is left, reading
// each member's value with the Scanner's methods in between (members are at
// depth 1: Skip(1) passes over a value the layer does not read). The Next
// that reports the end checks that the text ends there. The zero Members
// is ready for Reset.
type Members struct {
	Scanner
	obj ObjectMembers
}

// ObjectMembers reads the members of one object of a text, under the
// rules of Validate, for a layer that reads fields inside a member's
// object (Members reads the top-level object's): Open at the object, then
// Next for each member until it reports that none is left, reading each
// member's value with the Scanner in between. The zero ObjectMembers is
// ready for Open.
type ObjectMembers struct {
	keys    keySet
	name    [2]int // the bounds of the current member's name in Data
	escaped bool
	state   membersState
}

type membersState uint8

const (
	beforeFirst membersState = iota // the next Next reads the first member's name
	afterMember                     // the next Next reads a comma or the closing brace first
	closed                          // the object ended
)

// Reset starts m on data. A text that is valid but not an object is
// ErrNotObject; one that is not valid is the first error Validate finds.
func (m *Members) Reset(data []byte) error {
	m.obj.reset()
	if err := m.Scanner.Reset(data); err != nil {
		return err
	}
	switch m.Kind() {
	case Object:
	case Invalid:
		return ErrInvalidJSON
	default:
		// Any other JSON value is valid JSON but not an object.
		if err := m.Skip(0); err != nil {
			return err
		}
		if err := m.Finish(); err != nil {
			return err
		}
		return ErrNotObject
	}
	return m.obj.Open(&m.Scanner, 1)
}

// Next reads the name of the next member (Name returns it), after the
// value of the current one has been read; ok is false when the object
// ended, and then err says whether the text ends with it.
func (m *Members) Next() (ok bool, err error) {
	if ok, err = m.obj.Next(&m.Scanner); ok || err != nil {
		return ok, err
	}
	return false, m.Finish()
}

// Name returns the current member's name, as written between the quotes
// (aliasing the text), and whether it holds escape sequences.
func (m *Members) Name() (raw []byte, escaped bool) { return m.obj.Name(&m.Scanner) }

func (o *ObjectMembers) reset() { o.keys.n, o.keys.big, o.state = 0, nil, closed }

// Open reads the '{' of the object at s's position; depth is the object's
// nesting as for Scanner.Open, and its members' values are at depth.
func (o *ObjectMembers) Open(s *Scanner, depth int) error {
	o.reset()
	if s.Kind() != Object {
		return ErrInvalidJSON
	}
	empty, err := s.Open(depth)
	if !empty && err == nil {
		o.state = beforeFirst
	}
	return err
}

// Next reads the name of the object's next member from s (Name returns
// it), after the value of the current one has been read; ok is false when
// the object ended (its closing brace is read).
func (o *ObjectMembers) Next(s *Scanner) (ok bool, err error) {
	switch o.state {
	case afterMember:
		more, err := s.More('}')
		if err != nil {
			return false, err
		}
		if !more {
			o.state = closed
			return false, nil
		}
	case closed:
		return false, nil
	}
	o.state = afterMember
	start, end, flags, err := s.Key()
	if err != nil {
		return false, err
	}
	o.escaped = flags&Escaped != 0
	if err := o.keys.add(s.data, start, end, o.escaped); err != nil {
		return false, err
	}
	o.name = [2]int{start, end}
	return true, nil
}

// Name returns the current member's name, as written between the quotes
// (aliasing s's text), and whether it holds escape sequences.
func (o *ObjectMembers) Name(s *Scanner) (raw []byte, escaped bool) {
	return s.data[o.name[0]:o.name[1]], o.escaped
}
