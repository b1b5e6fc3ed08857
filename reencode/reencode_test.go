package reencode

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// want is the expected output of each style, or "error: <reason>".
type want struct{ js, python, php string }

func (w want) of(s Style) string {
	switch s {
	case JS:
		return w.js
	case Python:
		return w.python
	}
	return w.php
}

// same expects the same output from every style.
func same(s string) want { return want{s, s, s} }

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// The expected outputs were checked by hand against node v20, Python 3.11
// and PHP 8.2 (TestDifferential checks thousands more automatically).
var cases = []struct {
	name string
	body string
	want want
}{
	{"pretty-printed event", "{\n  \"event\": \"screenshot.finished\",\n  \"screenshot_id\": \"sc_abc123\",\n  \"url\": \"https://example.com\",\n  \"width\": 1280,\n  \"metadata\": {}\n}\n", want{
		`{"event":"screenshot.finished","screenshot_id":"sc_abc123","url":"https://example.com","width":1280,"metadata":{}}`,
		`{"event": "screenshot.finished", "screenshot_id": "sc_abc123", "url": "https://example.com", "width": 1280, "metadata": {}}`,
		`{"event":"screenshot.finished","screenshot_id":"sc_abc123","url":"https:\/\/example.com","width":1280,"metadata":{}}`}},
	{"whitespace everywhere", " \t\r\n[ 1 , { \"a\" : true } , null ] \n", want{`[1,{"a":true},null]`, `[1, {"a": true}, null]`, `[1,{"a":true},null]`}},
	{"escaped slash", `["a\/b","c/d"]`, want{`["a/b","c/d"]`, `["a/b", "c/d"]`, `["a\/b","c\/d"]`}},
	{"escaped and raw non-ASCII", `["\u00e9","\u00E9","é"]`, want{`["é","é","é"]`, `["\u00e9", "\u00e9", "\u00e9"]`, `["\u00e9","\u00e9","\u00e9"]`}},
	{"surrogate pair escaped and raw", `["\ud83d\ude00","\uD83D\uDE00","😀"]`, want{`["😀","😀","😀"]`, `["\ud83d\ude00", "\ud83d\ude00", "\ud83d\ude00"]`, `["\ud83d\ude00","\ud83d\ude00","\ud83d\ude00"]`}},
	{"lone high surrogate", `["\uD800x"]`, want{`["\ud800x"]`, `["\ud800x"]`, "error: lone_surrogate"}},
	{"lone low surrogate", `["\udc00"]`, want{`["\udc00"]`, `["\udc00"]`, "error: lone_surrogate"}},
	{"reversed pair", `["\udc00\ud800"]`, want{`["\udc00\ud800"]`, `["\udc00\ud800"]`, "error: lone_surrogate"}},
	{"high surrogate then non-surrogate escape", `["\ud800\u0041"]`, want{`["\ud800A"]`, `["\ud800A"]`, "error: lone_surrogate"}},
	{"short escapes and controls", `["\b\f\n\r\t\u0001\u001F\"\\"]`, same(`["\b\f\n\r\t\u0001\u001f\"\\"]`)},
	{"DEL escaped", `["\u007f"]`, want{"[\"\x7f\"]", `["\u007f"]`, "[\"\x7f\"]"}},
	{"DEL raw", "[\"\x7f\"]", want{"[\"\x7f\"]", `["\u007f"]`, "[\"\x7f\"]"}},
	{"line separator", `["\u2028",""]`, want{"[\"\u2028\",\"\"]", `["\u2028", ""]`, `["\u2028",""]`}},
	{"escaped ASCII", `["\u0041\u0022\u005c\u002f"]`, want{`["A\"\\/"]`, `["A\"\\/"]`, `["A\"\\\/"]`}},

	{"1.0", `[1.0,10.0,1.5]`, want{`[1,10,1.5]`, `[1.0, 10.0, 1.5]`, `[1,10,1.5]`}},
	{"exponents", `[1E5,1e+5,1e-5,123e-2,1.5e300]`, want{`[100000,100000,0.00001,1.23,1.5e+300]`, `[100000.0, 100000.0, 1e-05, 1.23, 1.5e+300]`, `[100000,100000,1.0e-5,1.23,1.5e+300]`}},
	// PHP's json_encode writes -0.0 as -0, which it reads back as the
	// integer 0: Append writes the fixed point.
	{"negative zero", `[-0,-0.0,0e5]`, want{`[0,0,0]`, `[0, -0.0, 0.0]`, `[0,0,0]`}},
	{"beyond float64", `[1e400,-1e400]`, want{`[null,null]`, `[Infinity, -Infinity]`, "error: number_out_of_range"}},
	{"below float64", `[1e-400,-1e-400]`, want{`[0,0]`, `[0.0, -0.0]`, `[0,0]`}},
	{"big integer", `[12345678901234567890]`, want{`[12345678901234567000]`, `[12345678901234567890]`, `[1.2345678901234567e+19]`}},
	{"int64 bounds", `[9223372036854775807,9223372036854775808,-9223372036854775808,-9223372036854775809]`, want{
		`[9223372036854776000,9223372036854776000,-9223372036854776000,-9223372036854776000]`,
		`[9223372036854775807, 9223372036854775808, -9223372036854775808, -9223372036854775809]`,
		`[9223372036854775807,9.223372036854776e+18,-9223372036854775808,-9.223372036854776e+18]`}},
	{"huge integer", "[1" + strings.Repeat("0", 400) + "]", want{`[null]`, "[1" + strings.Repeat("0", 400) + "]", "error: number_out_of_range"}},
	{"format boundaries", `[1e21,1e20,1e-7,1e-6,1e16,1e17,1e-4,0.00001234]`, want{
		`[1e+21,100000000000000000000,1e-7,0.000001,10000000000000000,100000000000000000,0.0001,0.00001234]`,
		`[1e+21, 1e+20, 1e-07, 1e-06, 1e+16, 1e+17, 0.0001, 1.234e-05]`,
		`[1.0e+21,1.0e+20,1.0e-7,1.0e-6,10000000000000000,1.0e+17,0.0001,1.234e-5]`}},
	{"shortest digits", `[0.1,0.30000000000000004,5e-324,1.7976931348623157e308,123456789012345678]`, want{
		`[0.1,0.30000000000000004,5e-324,1.7976931348623157e+308,123456789012345680]`,
		`[0.1, 0.30000000000000004, 5e-324, 1.7976931348623157e+308, 123456789012345678]`,
		`[0.1,0.30000000000000004,5.0e-324,1.7976931348623157e+308,123456789012345678]`}},

	{"empty containers", `{"a":{},"b":[],"c":[{}]}`, want{`{"a":{},"b":[],"c":[{}]}`, `{"a": {}, "b": [], "c": [{}]}`, `{"a":{},"b":[],"c":[{}]}`}},
	{"empty object", ` {} `, same(`{}`)},
	{"empty array", `[]`, same(`[]`)},
	{"scalar body", ` "x" `, same(`"x"`)},
	{"nesting", `[[[{"a":[1,{"b":null}]}]]]`, want{`[[[{"a":[1,{"b":null}]}]]]`, `[[[{"a": [1, {"b": null}]}]]]`, `[[[{"a":[1,{"b":null}]}]]]`}},

	{"array-index keys", `{"b":1,"1":2,"0":3,"a":4,"01":5,"-1":6,"4294967294":7,"4294967295":8,"1.0":9}`, want{
		`{"0":3,"1":2,"4294967294":7,"b":1,"a":4,"01":5,"-1":6,"4294967295":8,"1.0":9}`,
		`{"b": 1, "1": 2, "0": 3, "a": 4, "01": 5, "-1": 6, "4294967294": 7, "4294967295": 8, "1.0": 9}`,
		`{"b":1,"1":2,"0":3,"a":4,"01":5,"-1":6,"4294967294":7,"4294967295":8,"1.0":9}`}},
	{"escaped index key", `{"a":1,"\u0031":2}`, want{`{"1":2,"a":1}`, `{"a": 1, "1": 2}`, `{"a":1,"1":2}`}},
	{"index keys in order stay", `{"0":1,"5":2,"a":3}`, want{`{"0":1,"5":2,"a":3}`, `{"0": 1, "5": 2, "a": 3}`, `{"0":1,"5":2,"a":3}`}},
	{"index keys of nested objects", `{"z":{"9":1,"x":2,"3":3},"1":[{"b":0,"2":1}]}`, want{
		`{"1":[{"2":1,"b":0}],"z":{"3":3,"9":1,"x":2}}`,
		`{"z": {"9": 1, "x": 2, "3": 3}, "1": [{"b": 0, "2": 1}]}`,
		`{"z":{"9":1,"x":2,"3":3},"1":[{"b":0,"2":1}]}`}},

	{"duplicate key", `{"a":1,"b":2,"a":3}`, want{`{"a":3,"b":2}`, `{"a": 3, "b": 2}`, `{"a":3,"b":2}`}},
	{"duplicate key through an escape", `{"a":1,"\u0061":2}`, want{`{"a":2}`, `{"a": 2}`, `{"a":2}`}},
	{"duplicate keys nested", `{"x":{"k":1,"k":{"k":2,"k":3}},"y":0}`, want{`{"x":{"k":{"k":3}},"y":0}`, `{"x": {"k": {"k": 3}}, "y": 0}`, `{"x":{"k":{"k":3}},"y":0}`}},
	{"duplicate index keys", `{"b":0,"2":1,"1":2,"2":3}`, want{`{"1":2,"2":3,"b":0}`, `{"b": 0, "2": 3, "1": 2}`, `{"b":0,"2":3,"1":2}`}},
	{"INF replaced by a duplicate", `{"a":{"b":1e400},"a":2}`, want{`{"a":2}`, `{"a": 2}`, `{"a":2}`}},
	{"INF replacing a value", `{"a":1,"a":1e400}`, want{`{"a":null}`, `{"a": Infinity}`, "error: number_out_of_range"}},
	{"json_decode errors come before json_encode's", `[1e400,"\ud800"]`, want{`[null,"\ud800"]`, `[Infinity, "\ud800"]`, "error: lone_surrogate"}},

	{"key starting with U+0000", `{"\u0000a":1}`, want{`{"\u0000a":1}`, `{"\u0000a": 1}`, "error: key_starts_with_nul"}},
	{"key with U+0000 later", `{"a\u0000":1,"":2}`, want{`{"a\u0000":1,"":2}`, `{"a\u0000": 1, "": 2}`, `{"a\u0000":1,"":2}`}},
	{"4300-digit integer", "[" + strings.Repeat("7", 4300) + "]", want{`[null]`, "[" + strings.Repeat("7", 4300) + "]", "error: number_out_of_range"}},
	{"negative 4300-digit integer", "[-" + strings.Repeat("7", 4300) + "]", want{`[null]`, "[-" + strings.Repeat("7", 4300) + "]", "error: number_out_of_range"}},
	{"4301-digit integer", "[-" + strings.Repeat("7", 4301) + "]", want{`[null]`, "error: integer_too_long", "error: number_out_of_range"}},

	{"511 levels", nested(511), same(nested(511))},
	{"512 levels", nested(512), want{nested(512), nested(512), "error: too_deep"}},
	{"513 levels", nested(513), same("error: too_deep")},

	{"empty body", ``, same("error: invalid_json")},
	{"only whitespace", " \n", same("error: invalid_json")},
	{"unclosed object", `{"a":1`, same("error: invalid_json")},
	{"trailing comma", `{"a":1,}`, same("error: invalid_json")},
	{"trailing comma in array", `[1,]`, same("error: invalid_json")},
	{"missing colon", `{"a" 1}`, same("error: invalid_json")},
	{"key not a string", `{a:1}`, same("error: invalid_json")},
	{"trailing data", `{} {}`, same("error: invalid_json")},
	{"leading zero", `[01]`, same("error: invalid_json")},
	{"bare fraction", `[.5]`, same("error: invalid_json")},
	{"no fraction digits", `[1.]`, same("error: invalid_json")},
	{"no exponent digits", `[1e+]`, same("error: invalid_json")},
	{"plus sign", `[+1]`, same("error: invalid_json")},
	{"lone minus", `[-]`, same("error: invalid_json")},
	{"NaN", `[NaN]`, same("error: invalid_json")},
	{"Infinity", `[Infinity]`, same("error: invalid_json")},
	{"misspelt literal", `[nul]`, same("error: invalid_json")},
	{"bad escape", `["\x"]`, same("error: invalid_json")},
	{"short unicode escape", `["\u12"]`, same("error: invalid_json")},
	{"non-hex unicode escape", `["\u12g4"]`, same("error: invalid_json")},
	{"raw tab in string", "[\"a\tb\"]", same("error: invalid_json")},
	{"unterminated string", `["abc`, same("error: invalid_json")},
	{"backslash at the end", `["abc\`, same("error: invalid_json")},
	{"byte order mark", "\ufeff{}", same("error: invalid_json")},
	{"invalid UTF-8", "[\"\xff\"]", same("error: invalid_utf8")},
	{"overlong UTF-8", "[\"\xc0\x80\"]", same("error: invalid_utf8")},
	{"UTF-8 encoded surrogate", "[\"\xed\xa0\x80\"]", same("error: invalid_utf8")},
	{"truncated UTF-8", "[\"\xe2\x82\"]", same("error: invalid_utf8")},
}

func TestAppend(t *testing.T) {
	for _, tc := range cases {
		for _, s := range styles {
			t.Run(tc.name+"/"+s.String(), func(t *testing.T) {
				expected := tc.want.of(s)
				out, err := Append(nil, []byte(tc.body), s)
				if reason, ok := strings.CutPrefix(expected, "error: "); ok {
					var e *Error
					if !errors.As(err, &e) || e.Reason != reason {
						t.Fatalf("Append = %q, %v; want error %s", out, err, reason)
					}
					return
				}
				if err != nil || string(out) != expected {
					t.Fatalf("Append = %q, %v\nwant       %q", out, err, expected)
				}
			})
		}
	}
}

func TestAppendKeepsDst(t *testing.T) {
	for _, s := range styles {
		dst := append(make([]byte, 0, 64), "prefix:"...)
		out, err := Append(dst, []byte(`{"a" : [1]}`), s)
		if err != nil || !bytes.HasPrefix(out, []byte("prefix:{")) {
			t.Errorf("%v: Append = %q, %v; want the output after the prefix", s, out, err)
		}
		out, err = Append(dst, []byte(`{"a" : [1}`), s)
		if err == nil || string(out) != "prefix:" {
			t.Errorf("%v: failing Append = %q, %v; want dst unchanged and an error", s, out, err)
		}
	}
}

func TestStyle(t *testing.T) {
	for _, s := range styles {
		got, err := ParseStyle(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStyle(%q) = %v, %v", s.String(), got, err)
		}
	}
	for _, name := range []string{"", "JS", "node", "python3", "php8"} {
		if _, err := ParseStyle(name); err == nil {
			t.Errorf("ParseStyle(%q) succeeded", name)
		}
	}
	for _, s := range []Style{0, PHP + 1} {
		if _, err := Append(nil, []byte(`{}`), s); err != ErrUnknownStyle {
			t.Errorf("Append with %v: %v, want ErrUnknownStyle", s, err)
		}
	}
}

// TestAppendDoesNotAllocate checks the amortised zero allocations with room
// in dst, also when objects are rewritten (duplicate keys, JS index keys,
// objects past the pairwise key comparison).
func TestAppendDoesNotAllocate(t *testing.T) {
	var many bytes.Buffer
	many.WriteString(`{"event":"e"`)
	for i := range 40 {
		fmt.Fprintf(&many, `,"k%d":%d`, i%30, i)
	}
	many.WriteString(`,"7":[{"b":1,"2":2,"b":3}]}`)
	for _, body := range [][]byte{eventBody(t), many.Bytes()} {
		for _, s := range styles {
			dst := make([]byte, 0, 2*len(body))
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := Append(dst, body, s); err != nil {
					t.Fatal(err)
				}
			})
			switch {
			case raceEnabled:
				t.Logf("%v: %.2f allocations per call (not checked with the race detector)", s, allocs)
			case allocs != 0:
				t.Errorf("%v: %.2f allocations per call, want 0", s, allocs)
			}
		}
	}
}
