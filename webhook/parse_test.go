package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name                 string
		body                 string
		wantErr              error
		event, sid, bid, cat string // "<nil>" for absent
	}{
		{"vendor sample", `{"event":"screenshot.finished","screenshot_id":"sc_abc123","url":"https://example.com","status":"finished","width":1280,"height":720,"created_at":"2026-02-22T14:30:00Z","metadata":{}}`, nil, "screenshot.finished", "sc_abc123", "<nil>", "2026-02-22T14:30:00Z"},
		{"whitespace", " \n{ \"event\" : \"batch.finished\" , \"batch_id\" : \"b1\" }\r\n", nil, "batch.finished", "<nil>", "b1", "<nil>"},
		{"numeric id", `{"event":"screenshot.failed","screenshot_id":12345}`, nil, "screenshot.failed", "12345", "<nil>", "<nil>"},
		{"null ids", `{"event":"screenshot.failed","screenshot_id":null,"batch_id":null,"created_at":null}`, nil, "screenshot.failed", "<nil>", "<nil>", "<nil>"},
		{"escaped value", `{"event":"screenshot\u002efinished","screenshot_id":"sc\"1"}`, nil, "screenshot.finished", `sc"1`, "<nil>", "<nil>"},
		{"surrogate pair value", `{"event":"e","screenshot_id":"\ud83d\ude00"}`, nil, "e", "\U0001F600", "<nil>", "<nil>"},
		{"watched names in nested objects are fine", `{"event":"e","metadata":{"event":"x","screenshot_id":1},"list":[{"event":2},{"event":3}]}`, nil, "e", "<nil>", "<nil>", "<nil>"},
		// Libraries disagree on which value wins (or fail): refused anywhere.
		{"other keys repeat", `{"event":"e","a":1,"a":2}`, ErrDuplicateKey, "", "", "", ""},
		{"nested keys repeat", `{"event":"e","metadata":{"event":"x","event":"y"}}`, ErrDuplicateKey, "", "", "", ""},
		{"keys repeat by escaping", `{"event":"e","m":{"a\u00e9":1,"aé":2}}`, ErrDuplicateKey, "", "", "", ""},
		{"keys in different objects", `{"event":"e","m":{"a":1},"n":{"a":1}}`, nil, "e", "<nil>", "<nil>", "<nil>"},
		{"lone surrogate in a key", `{"event":"e","\ud800":1}`, ErrAmbiguousKey, "", "", "", ""},
		{"unrelated case variant", `{"event":"e","Url":1,"URL":2}`, nil, "e", "<nil>", "<nil>", "<nil>"},
		{"all json types", `{"a":[1,-2.5e+3,0.1,true,false,null,"s",{}],"event":"e","b":[]}`, nil, "e", "<nil>", "<nil>", "<nil>"},

		{"empty", ``, ErrInvalidJSON, "", "", "", ""},
		{"array", `[{"event":"e"}]`, ErrNotObject, "", "", "", ""},
		{"string", `"event"`, ErrNotObject, "", "", "", ""},
		{"garbage", `event=screenshot.finished`, ErrInvalidJSON, "", "", "", ""},
		{"truncated", `{"event":"e"`, ErrInvalidJSON, "", "", "", ""},
		{"trailing data", `{"event":"e"} {}`, ErrInvalidJSON, "", "", "", ""},
		{"trailing comma", `{"event":"e",}`, ErrInvalidJSON, "", "", "", ""},
		{"single quotes", `{'event':'e'}`, ErrInvalidJSON, "", "", "", ""},
		{"bad number", `{"event":"e","n":01}`, ErrInvalidJSON, "", "", "", ""},
		{"bad escape", `{"event":"e","s":"\x"}`, ErrInvalidJSON, "", "", "", ""},
		{"control char", "{\"event\":\"e\",\"s\":\"a\nb\"}", ErrInvalidJSON, "", "", "", ""},
		{"too deep", `{"event":"e","a":` + strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2) + `}`, ErrTooDeep, "", "", "", ""},
		{"no event", `{"screenshot_id":"sc_1"}`, ErrMissingEvent, "", "", "", ""},
		{"event number", `{"event":1}`, ErrEventNotString, "", "", "", ""},
		{"event null", `{"event":null}`, ErrEventNotString, "", "", "", ""},
		{"event object", `{"event":{"name":"e"}}`, ErrEventNotString, "", "", "", ""},
		{"event empty", `{"event":""}`, ErrEmptyEvent, "", "", "", ""},
		{"duplicate event", `{"event":"a","event":"b"}`, ErrDuplicateKey, "", "", "", ""},
		{"duplicate screenshot_id", `{"event":"a","screenshot_id":"1","screenshot_id":"2"}`, ErrDuplicateKey, "", "", "", ""},
		{"duplicate batch_id", `{"event":"a","batch_id":"1","batch_id":"1"}`, ErrDuplicateKey, "", "", "", ""},
		{"duplicate created_at", `{"event":"a","created_at":"x","created_at":"y"}`, ErrDuplicateKey, "", "", "", ""},
		{"duplicate via null", `{"event":"a","screenshot_id":null,"screenshot_id":"2"}`, ErrDuplicateKey, "", "", "", ""},
		{"case variant", `{"event":"a","EVENT":"b"}`, ErrAmbiguousKey, "", "", "", ""},
		{"case variant alone", `{"Event":"a"}`, ErrAmbiguousKey, "", "", "", ""},
		{"escaped key repeating a watched one", `{"event":"a","\u0065vent":"b"}`, ErrDuplicateKey, "", "", "", ""},
		{"escaped watched key", `{"\u0065vent":"b"}`, ErrAmbiguousKey, "", "", "", ""},
		{"unicode fold key", `{"event":"a","ſcreenshot_id":"x"}`, ErrAmbiguousKey, "", "", "", ""},
		{"id object", `{"event":"a","screenshot_id":{}}`, ErrInvalidField, "", "", "", ""},
		{"id bool", `{"event":"a","batch_id":true}`, ErrInvalidField, "", "", "", ""},
		{"created_at number", `{"event":"a","created_at":1}`, ErrInvalidField, "", "", "", ""},
		{"lone surrogate", `{"event":"a\ud800"}`, ErrInvalidField, "", "", "", ""},
		{"invalid utf8 in the event", "{\"event\":\"a\xff\"}", ErrInvalidUTF8, "", "", "", ""},
		{"invalid utf8 anywhere", "{\"event\":\"a\",\"note\":\"\xc3\x28\"}", ErrInvalidUTF8, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			check := func(name string, got []byte, want string) {
				t.Helper()
				g := "<nil>"
				if got != nil {
					g = string(got)
				}
				if g != want {
					t.Errorf("%s = %q, want %q", name, g, want)
				}
			}
			check("event", f.Event, tt.event)
			check("screenshot_id", f.ScreenshotID, tt.sid)
			check("batch_id", f.BatchID, tt.bid)
			check("created_at", f.CreatedAt, tt.cat)
		})
	}
}

// FuzzParse checks Parse against encoding/json: whatever Parse accepts,
// encoding/json reads as an object without a repeated key and with the same
// watched values; whatever Parse refuses as malformed, encoding/json
// refuses too, and a refusal for a repeated key or invalid UTF-8 is true.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"event":"screenshot.finished","screenshot_id":"sc_1","created_at":"2026-02-22T14:30:00Z"}`,
		`{"event":"batch.finished","batch_id":7,"x":[1,2,{"y":null}]}`,
		`{"event":"a","EVENT":"b"}`, `{"event":"\u0061"}`, `[1]`, `{"event":"a"}x`, `{"event":"a","n":-0.5e-7}`,
		`{"event":"a","m":{"k":1,"k":2}}`, `{"event":"a","m":{"\u006b":1,"k":2}}`, "{\"event\":\"a\",\"x\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := Parse(body)
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(body, &m)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("non-reason error %v", err)
			}
			switch {
			case err == ErrDuplicateKey && !repeatsAKey(body):
				t.Fatalf("Parse says a key repeats; encoding/json finds none")
			case err == ErrInvalidUTF8 && utf8.Valid(body):
				t.Fatalf("Parse says invalid UTF-8 for valid UTF-8")
			case (err == ErrInvalidJSON || err == ErrNotObject) && jerr == nil && m != nil:
				t.Fatalf("Parse says %v, encoding/json parsed an object", err)
			}
			return
		}
		if jerr != nil {
			t.Fatalf("Parse accepted what encoding/json rejects: %v", jerr)
		}
		if repeatsAKey(body) {
			t.Fatalf("Parse accepted an object that repeats a key")
		}
		var ev string
		if e := json.Unmarshal(m["event"], &ev); e != nil || ev != string(fields.Event) {
			t.Fatalf("event: Parse %q, encoding/json %q (%v)", fields.Event, ev, e)
		}
		if raw, ok := m["screenshot_id"]; ok && fields.ScreenshotID != nil {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != string(fields.ScreenshotID) {
				t.Fatalf("screenshot_id: Parse %q, encoding/json %q", fields.ScreenshotID, s)
			}
		}
	})
}

// repeatsAKey reports whether an object anywhere in a valid JSON body
// repeats a key, as encoding/json decodes keys.
func repeatsAKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.keys != nil {
					top.expectKey = true // the container was a member's value
				}
				fr := &frame{}
				if v == '{' {
					fr.keys, fr.expectKey = map[string]bool{}, true
				}
				stack = append(stack, fr)
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].keys != nil {
					stack[len(stack)-1].expectKey = true
				}
			}
		default:
			if top == nil || top.keys == nil {
				continue
			}
			if top.expectKey {
				k := v.(string)
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.expectKey = false
			} else {
				top.expectKey = true
			}
		}
	}
}

// Objects larger than keySet's array switch to a map and still find a
// repeated key, escaped or not, wherever it is.
func TestParseLargeObjects(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"event":"e"`)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	distinct := b.String() + "}"
	if _, err := Parse([]byte(distinct)); err != nil {
		t.Fatalf("100 distinct keys: %v", err)
	}
	for _, repeat := range []string{`,"k7":0}`, `,"k\u0039\u0039":0}`, `,"event":"f"}`} {
		if _, err := Parse([]byte(b.String() + repeat)); err != ErrDuplicateKey {
			t.Errorf("100 keys and %s: %v, want duplicate_key", repeat, err)
		}
	}
}

// The body nests at most MaxDepth arrays and objects deep, the top-level
// object and empty ones included (the one limit of strictjson, which
// reencode applies too).
func TestParseDepth(t *testing.T) {
	inner := func(levels int) string { return strings.Repeat("[", levels) + strings.Repeat("]", levels) }
	if _, err := Parse([]byte(`{"event":"e","a":` + inner(MaxDepth-1) + `}`)); err != nil {
		t.Fatalf("%d levels: %v", MaxDepth, err)
	}
	if _, err := Parse([]byte(`{"event":"e","a":` + inner(MaxDepth) + `}`)); err != ErrTooDeep {
		t.Fatalf("%d levels: %v, want body_too_deep", MaxDepth+1, err)
	}
}
