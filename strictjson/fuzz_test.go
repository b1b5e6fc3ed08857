package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/scgate/scgate/strictjson"
)

// FuzzValidate checks Validate against encoding/json: what it accepts is
// JSON and UTF-8; what it refuses as invalid JSON encoding/json refuses
// too, and as invalid UTF-8 is not UTF-8; and a walk of the text with the
// Scanner's token methods (StringPart with a mark for strings) accepts and
// refuses as Validate does, reading each string as String and Unescape do.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"event":"screenshot.finished","screenshot_id":"sc_1","n":-0.5e-7,"l":[true,false,null]}`,
		`{"a":"\u00e9\ud83d\ude00\/","b":"é/\u007f"}`, `{"a":{"k":1,"k":2}}`, `{"\ud800":1}`, `["\ud800\u0041"]`,
		"[\"\xff\"]", `[[[[]]]]`, `{"a":1,}`, `"abcdefghijklmnopqrstuvwxyz\"0123456789"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		err := strictjson.Validate(text)
		switch {
		case err == nil && !(json.Valid(text) && utf8.Valid(text)):
			t.Fatalf("Validate accepted what is not JSON or not UTF-8")
		case err == strictjson.ErrInvalidJSON && json.Valid(text):
			t.Fatalf("Validate says invalid JSON, encoding/json accepts it")
		case err == strictjson.ErrInvalidUTF8 && utf8.Valid(text):
			t.Fatalf("Validate says invalid UTF-8 for UTF-8")
		case err != nil && !errors.Is(err, strictjson.ErrInvalidJSON) && !errors.Is(err, strictjson.ErrInvalidUTF8) &&
			!errors.Is(err, strictjson.ErrTooDeep) && !errors.Is(err, strictjson.ErrDuplicateKey) && !errors.Is(err, strictjson.ErrAmbiguousKey):
			t.Fatalf("Validate returned %v", err)
		}
		for _, mark := range []byte{0, '/'} {
			werr := walk(t, text, mark)
			// The walk has no key rules: it fails as Validate does for
			// the grammar, UTF-8 and depth (past a key Validate refuses
			// it may meet anything).
			if werr != err && err != strictjson.ErrDuplicateKey && err != strictjson.ErrAmbiguousKey {
				t.Fatalf("walk (mark %q): %v, Validate: %v", mark, werr, err)
			}
		}
	})
}

// walk reads text with the Scanner's token methods, checking each string
// read part by part against String and Unescape.
func walk(t *testing.T, text []byte, mark byte) error {
	var s strictjson.Scanner
	s.SetMark(mark)
	if err := s.Reset(text); err != nil {
		return err
	}
	var value func(depth int) error
	value = func(depth int) error {
		switch s.Kind() {
		case strictjson.String:
			return walkString(t, &s, mark)
		case strictjson.Number:
			_, _, _, err := s.Number()
			return err
		case strictjson.Null, strictjson.True, strictjson.False:
			_, err := s.Literal()
			return err
		case strictjson.Array, strictjson.Object:
			object := s.Kind() == strictjson.Object
			closing := byte(']')
			if object {
				closing = '}'
			}
			empty, err := s.Open(depth + 1)
			if empty || err != nil {
				return err
			}
			for {
				if object {
					if s.Kind() != strictjson.String {
						return strictjson.ErrInvalidJSON
					}
					if err := walkString(t, &s, mark); err != nil {
						return err
					}
					if err := s.Colon(); err != nil {
						return err
					}
				}
				if err := value(depth + 1); err != nil {
					return err
				}
				if more, err := s.More(closing); !more || err != nil {
					return err
				}
			}
		}
		return strictjson.ErrInvalidJSON
	}
	if err := value(0); err != nil {
		return err
	}
	return s.Finish()
}

// walkString reads the string at s part by part and compares it with what
// String and Unescape read of the same string on its own.
func walkString(t *testing.T, s *strictjson.Scanner, mark byte) error {
	if err := s.OpenString(); err != nil {
		return err
	}
	var got []byte
	quote, lone := -1, false
	for {
		start, end, stop, r, err := s.StringPart()
		if err != nil {
			return err
		}
		if quote < 0 {
			quote = start - 1
		}
		run := s.Data()[start:end]
		if bytes.IndexByte(run, '\\') >= 0 || mark != 0 && (bytes.IndexByte(run, mark) >= 0 || !isASCII(run)) {
			t.Fatalf("run %q holds a stop", run)
		}
		got = append(got, run...)
		if stop == strictjson.EndOfString {
			token := s.Data()[quote : end+1]
			var ref strictjson.Scanner
			if err := ref.Reset(token); err != nil {
				t.Fatalf("string %q: %v", token, err)
			}
			rs, re, _, err := ref.String()
			if err != nil || ref.Finish() != nil {
				t.Fatalf("StringPart read %q, String refuses it: %v", token, err)
			}
			if want, ok := strictjson.Unescape(nil, token[rs:re]); ok == lone || !lone && string(want) != string(got) {
				t.Fatalf("StringPart read %q as %q, String and Unescape as %q (%v)", token, got, want, ok)
			}
			return nil
		}
		if utf16.IsSurrogate(r) {
			lone = true
		} else {
			got = utf8.AppendRune(got, r)
		}
	}
}
