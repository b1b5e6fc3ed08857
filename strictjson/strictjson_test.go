package strictjson_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/scgate/scgate/strictjson"
)

func nested(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, text string
		want       error
	}{
		{"object", `{"a":[1,-2.5e+3,0.1,true,false,null,"s",{}],"b":[]}`, nil},
		{"whitespace everywhere", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n", nil},
		{"scalar", `"s"`, nil},
		{"escapes", `["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]`, nil},
		{"non-ASCII", `["é😀","` + strings.Repeat("ü", 20) + `"]`, nil},
		{"lone surrogate in a value", `["\ud800","\udc00x"]`, nil},
		{"keys in different objects", `{"m":{"a":1},"n":{"a":1}}`, nil},
		{"512 levels", nested(512, ""), nil},
		{"512 levels around a value", nested(512, "1"), nil},

		{"empty", ``, strictjson.ErrInvalidJSON},
		{"only whitespace", " \n", strictjson.ErrInvalidJSON},
		{"trailing data", `{} {}`, strictjson.ErrInvalidJSON},
		{"trailing comma", `[1,]`, strictjson.ErrInvalidJSON},
		{"missing colon", `{"a" 1}`, strictjson.ErrInvalidJSON},
		{"key not a string", `{1:2}`, strictjson.ErrInvalidJSON},
		{"single quotes", `['a']`, strictjson.ErrInvalidJSON},
		{"leading zero", `[01]`, strictjson.ErrInvalidJSON},
		{"bare minus", `[-]`, strictjson.ErrInvalidJSON},
		{"no fraction digits", `[1.]`, strictjson.ErrInvalidJSON},
		{"no exponent digits", `[1e+]`, strictjson.ErrInvalidJSON},
		{"truncated literal", `[tru]`, strictjson.ErrInvalidJSON},
		{"bad escape", `["\x"]`, strictjson.ErrInvalidJSON},
		{"short unicode escape", `["\u12"]`, strictjson.ErrInvalidJSON},
		{"non-hex unicode escape", `["\u12g4"]`, strictjson.ErrInvalidJSON},
		{"raw control byte", "[\"a\tb\"]", strictjson.ErrInvalidJSON},
		{"unterminated string", `["abc`, strictjson.ErrInvalidJSON},
		{"backslash at the end", `["abc\`, strictjson.ErrInvalidJSON},
		{"byte order mark", "\ufeff{}", strictjson.ErrInvalidJSON},
		{"NaN", `[NaN]`, strictjson.ErrInvalidJSON},

		{"invalid UTF-8 in a string", "[\"\xff\"]", strictjson.ErrInvalidUTF8},
		{"overlong UTF-8", "[\"\xc0\x80\"]", strictjson.ErrInvalidUTF8},
		{"UTF-8 encoded surrogate", "[\"\xed\xa0\x80\"]", strictjson.ErrInvalidUTF8},
		{"invalid UTF-8 after a syntax error", "[1,,\"\xff\"]", strictjson.ErrInvalidUTF8},

		// The nesting counts every array and object, empty ones too.
		{"513 levels", nested(513, ""), strictjson.ErrTooDeep},
		{"513 levels around a value", nested(513, "1"), strictjson.ErrTooDeep},
		{"513 levels of objects", strings.Repeat(`{"a":`, 512) + "{}" + strings.Repeat("}", 512), strictjson.ErrTooDeep},

		{"repeated key", `{"a":1,"a":2}`, strictjson.ErrDuplicateKey},
		{"repeated nested key", `[{"m":{"x":1,"x":1}}]`, strictjson.ErrDuplicateKey},
		{"repeated by escaping", `{"a\u00e9":1,"aé":2}`, strictjson.ErrDuplicateKey},
		{"lone surrogate in a key", `{"\ud800":1}`, strictjson.ErrAmbiguousKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := strictjson.Validate([]byte(tt.text)); err != tt.want {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

// Objects of more members than fit the key set's array still find a
// repeated key, escaped or not, wherever it is.
func TestValidateLargeObjects(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"k":0`)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	if err := strictjson.Validate([]byte(b.String() + "}")); err != nil {
		t.Fatalf("101 distinct keys: %v", err)
	}
	for _, repeat := range []string{`,"k7":0}`, `,"k\u0039\u0039":0}`, `,"k":1}`} {
		if err := strictjson.Validate([]byte(b.String() + repeat)); err != strictjson.ErrDuplicateKey {
			t.Errorf("101 keys and %s: %v, want duplicate_key", repeat, err)
		}
	}
}

func TestMembers(t *testing.T) {
	tests := []struct {
		text  string
		names []string // as written
		want  error
	}{
		{`{}`, nil, nil},
		{` {"a":1, "b\u0041":{"a":[1]} } `, []string{"a", `b\u0041`}, nil},
		{`[1]`, nil, strictjson.ErrNotObject},
		{`"s"`, nil, strictjson.ErrNotObject},
		{`[1,]`, nil, strictjson.ErrInvalidJSON},
		{`{"a":1} x`, []string{"a"}, strictjson.ErrInvalidJSON},
		{`{"a":1,"a":2}`, []string{"a"}, strictjson.ErrDuplicateKey},
		{"{\"a\":\"\xff\"}", nil, strictjson.ErrInvalidUTF8},
	}
	for _, tt := range tests {
		var m strictjson.Members
		err := m.Reset([]byte(tt.text))
		var names []string
		for err == nil {
			var ok bool
			if ok, err = m.Next(); !ok || err != nil {
				break
			}
			raw, escaped := m.Name()
			if escaped != bytes.Contains(raw, []byte(`\`)) {
				t.Errorf("%s: name %s escaped = %v", tt.text, raw, escaped)
			}
			names = append(names, string(raw))
			err = m.Skip(1)
		}
		if err != tt.want || fmt.Sprint(names) != fmt.Sprint(tt.names) {
			t.Errorf("%s: names %q, %v; want %q, %v", tt.text, names, err, tt.names, tt.want)
		}
	}
}

// ObjectMembers reads a member's object under the rules of the top level:
// a key twice in it is refused, and its end is not the text's.
func TestObjectMembers(t *testing.T) {
	tests := []struct {
		text  string
		names []string // of the "o" member's object
		want  error
	}{
		{`{"o":{}}`, nil, nil},
		{`{"o":{"a":1,"b":{"a":2}},"z":3}`, []string{"a", "b"}, nil},
		{`{"o":{"a":1,"\u0061":2}}`, []string{"a"}, strictjson.ErrDuplicateKey},
		{`{"o":{"a":1,}}`, []string{"a"}, strictjson.ErrInvalidJSON},
		{`{"o":[1]}`, nil, strictjson.ErrInvalidJSON},
	}
	for _, tt := range tests {
		var m strictjson.Members
		var names []string
		err := m.Reset([]byte(tt.text))
		for err == nil {
			var ok bool
			if ok, err = m.Next(); !ok || err != nil {
				break
			}
			if raw, _ := m.Name(); string(raw) != "o" {
				err = m.Skip(1)
				continue
			}
			var o strictjson.ObjectMembers
			if err = o.Open(&m.Scanner, 2); err != nil {
				break
			}
			for {
				if ok, err = o.Next(&m.Scanner); !ok || err != nil {
					break
				}
				raw, _ := o.Name(&m.Scanner)
				names = append(names, string(raw))
				if err = m.Skip(2); err != nil {
					break
				}
			}
		}
		if err != tt.want || fmt.Sprint(names) != fmt.Sprint(tt.names) {
			t.Errorf("%s: names %q, %v; want %q, %v", tt.text, names, err, tt.names, tt.want)
		}
	}
}

// String and StringPart read strings eight bytes at a time: every special
// byte at every position of strings of every short length (and inside a
// text that ends right after them or goes on) is found.
func TestStringEveryPosition(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for at := 0; at < n; at++ {
			for _, c := range []string{`"`, `\`, "\x00", "\x1f", `\n`, `\u00e9`, "é", "/"} {
				contents := strings.Repeat("a", at) + c + strings.Repeat("b", n-at-1)
				for _, after := range []string{"", `,"after the string"]`} {
					text := `["` + contents + `"` + after
					if after == "" {
						text += "]"
					}
					checkString(t, text)
				}
			}
		}
	}
}

// checkString reads the string that text (an array) starts with through
// String and through StringPart with and without a mark, and compares them
// with what the reference decoder makes of it.
func checkString(t *testing.T, text string) {
	t.Helper()
	want, wantErr := referenceString(text[2:])
	var s strictjson.Scanner
	if err := s.Reset([]byte(text)); err != nil {
		t.Fatalf("%q: Reset: %v", text, err)
	}
	if _, err := s.Open(1); err != nil {
		t.Fatalf("%q: Open: %v", text, err)
	}
	start, end, flags, err := s.String()
	got := ""
	if err == nil {
		raw := s.Data()[start:end]
		dec, ok := strictjson.Unescape(nil, raw)
		if !ok {
			t.Fatalf("%q: Unescape failed", text)
		}
		got = string(dec)
		if (flags&strictjson.Escaped != 0) != bytes.Contains(raw, []byte(`\`)) {
			t.Fatalf("%q: flags %v", text, flags)
		}
	}
	if (err != nil) != wantErr || got != want {
		t.Fatalf("String of %q: %q, %v; want %q, error %v", text, got, err, want, wantErr)
	}
	for _, mark := range []byte{0, '/'} {
		s.SetMark(mark)
		_ = s.Reset([]byte(text))
		_, _ = s.Open(1)
		got, err := partsString(&s, mark)
		if (err != nil) != wantErr || got != want {
			t.Fatalf("StringPart (mark %q) of %q: %q, %v; want %q, error %v", mark, text, got, err, want, wantErr)
		}
	}
}

// partsString decodes a string through OpenString and StringPart, checking
// that runs hold no stop.
func partsString(s *strictjson.Scanner, mark byte) (string, error) {
	if err := s.OpenString(); err != nil {
		return "", err
	}
	var b []byte
	for {
		start, end, stop, r, err := s.StringPart()
		if err != nil {
			return "", err
		}
		run := s.Data()[start:end]
		if bytes.IndexByte(run, '\\') >= 0 || mark != 0 && (bytes.IndexByte(run, mark) >= 0 || !isASCII(run)) {
			return "", fmt.Errorf("run %q holds a stop", run)
		}
		b = append(b, run...)
		switch stop {
		case strictjson.EndOfString:
			return string(b), nil
		case strictjson.MarkStop:
			if mark == 0 || r < utf8.RuneSelf && byte(r) != mark {
				return "", fmt.Errorf("mark stop at %q", r)
			}
		}
		if utf16.IsSurrogate(r) {
			return "", fmt.Errorf("lone surrogate")
		}
		b = utf8.AppendRune(b, r)
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// referenceString decodes the string whose contents text starts with, up
// to its closing quote, one byte at a time as RFC 8259 reads it (lone
// surrogates aside); it reports whether the string is invalid.
func referenceString(text string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '"':
			return b.String(), false
		case c < 0x20:
			return "", true
		case c != '\\':
			b.WriteByte(c)
		case i+1 >= len(text):
			return "", true
		default:
			i++
			switch e := text[i]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b', 'f', 'n', 'r', 't':
				b.WriteByte(map[byte]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[e])
			case 'u':
				var r rune
				if i+5 > len(text) {
					return "", true
				}
				if _, err := fmt.Sscanf(text[i+1:i+5], "%04x", &r); err != nil {
					return "", true
				}
				b.WriteRune(r)
				i += 4
			default:
				return "", true
			}
		}
	}
	return "", true
}

func TestStringPartEscapes(t *testing.T) {
	tests := []struct {
		text  string
		runes []rune // the characters of the escape stops
		err   bool
	}{
		{`"\ud83d\ude00"`, []rune{0x1F600}, false},
		{`"\uD83D\uDE00x"`, []rune{0x1F600}, false},
		{`"\ud800"`, []rune{0xD800}, false},
		{`"\ud800\u0041"`, []rune{0xD800, 'A'}, false},
		{`"\udc00\ud800"`, []rune{0xDC00, 0xD800}, false},
		{`"\ud800\udc0z"`, nil, true},
		{`"\ud800\u"`, []rune{0xD800}, true},
		{`"\b\f\n\r\t\/\\\""`, []rune{'\b', '\f', '\n', '\r', '\t', '/', '\\', '"'}, false},
	}
	for _, tt := range tests {
		var s strictjson.Scanner
		if err := s.Reset([]byte(tt.text)); err != nil {
			t.Fatal(err)
		}
		if err := s.OpenString(); err != nil {
			t.Fatal(err)
		}
		var runes []rune
		var err error
		for {
			var stop strictjson.Stop
			var r rune
			if _, _, stop, r, err = s.StringPart(); err != nil || stop == strictjson.EndOfString {
				break
			}
			runes = append(runes, r)
		}
		if (err != nil) != tt.err || fmt.Sprint(runes) != fmt.Sprint(tt.runes) {
			t.Errorf("%s: %U, %v; want %U, error %v", tt.text, runes, err, tt.runes, tt.err)
		}
	}
}
