package reencode

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
	"unicode/utf8"
)

// maxSeed bounds the seeds: the fuzzer minimises every new interesting
// input, which for long ones can take most of a short -fuzztime.
const maxSeed = 600

// addSeeds adds the cases of TestAppend and a few random bodies (the
// corpus in testdata/fuzz adds more).
func addSeeds(f *testing.F) {
	for _, tc := range cases {
		if len(tc.body) <= maxSeed {
			f.Add([]byte(tc.body))
		}
	}
	g := newBodyGen(7)
	for added := 0; added < 20; {
		if b, _ := g.body(); len(b) <= maxSeed {
			f.Add(b)
			added++
		}
	}
}

// FuzzReencode checks, for every style, properties that need no runtime:
// Append never panics; it fails exactly on what is not JSON (or UTF-8) and
// otherwise only for the reasons of the style (for a body that is not JSON
// the reason is whatever Append meets first); its output is JSON (Python
// may write Infinity), a fixed point of Append, and holds the same values.
func FuzzReencode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, s := range styles {
			checkProperties(t, s, body)
		}
	})
}

// reasonsOnValidJSON are the refusals each style may give for valid JSON.
var reasonsOnValidJSON = map[Style][]string{
	JS:     {"too_deep"},
	Python: {"too_deep", "integer_too_long"},
	PHP:    {"too_deep", "lone_surrogate", "key_starts_with_nul", "number_out_of_range"},
}

func checkProperties(t *testing.T, s Style, body []byte) {
	out, err := Append(nil, body, s)
	valid := json.Valid(body) && utf8.Valid(body)
	if err != nil {
		var e *Error
		switch {
		case !errors.As(err, &e):
			t.Fatalf("%v: error %v is no *Error", s, err)
		case valid && !contains(reasonsOnValidJSON[s], e.Reason):
			t.Fatalf("%v: valid body refused as %s", s, e.Reason)
		case e.Reason == "too_deep" && nesting(body) <= maxDepth(s):
			t.Fatalf("%v: body nesting %d refused as too deep", s, nesting(body))
		}
		return
	}
	if !valid {
		t.Fatalf("%v: invalid body re-encoded as %q", s, out)
	}
	// Python writes numbers beyond the float64 range as Infinity, which
	// is not JSON; 1e400 reads back as the same value.
	asJSON := out
	if s == Python {
		asJSON = replaceInfinity(out)
	}
	if !json.Valid(asJSON) || !utf8.Valid(out) {
		t.Fatalf("%v: output %q is not JSON", s, out)
	}
	again, err := Append(nil, asJSON, s)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("%v: output %q re-encodes as %q, %v", s, out, again, err)
	}
	if err := sameValues(s, decodeJSON(t, body), decodeJSON(t, asJSON)); err != nil {
		t.Fatalf("%v: %q re-encoded as %q: %v", s, body, out, err)
	}
}

func maxDepth(s Style) int {
	if s == PHP {
		return MaxDepthPHP
	}
	return MaxDepth
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// replaceInfinity replaces the Infinity tokens of Python output (outside
// strings) with 1e400.
func replaceInfinity(out []byte) []byte {
	var r []byte
	inString := false
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case inString && c == '\\':
			r = append(r, c, out[i+1])
			i++
			continue
		case c == '"':
			inString = !inString
		case !inString && bytes.HasPrefix(out[i:], []byte("Infinity")):
			r = append(r, "1e400"...)
			i += len("Infinity") - 1
			continue
		}
		r = append(r, out[i])
	}
	return r
}

func decodeJSON(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// sameValues compares values decoded by encoding/json, which keeps the last
// of duplicate keys as the runtimes do and reads lone surrogates as U+FFFD
// on both sides. Numbers compare by their float64 value (Python integers by
// their digits), except that JS writes those beyond the range as null.
func sameValues(s Style, in, out any) error {
	switch in := in.(type) {
	case map[string]any:
		o, ok := out.(map[string]any)
		if !ok || len(o) != len(in) {
			return errors.New("object differs")
		}
		for k, v := range in {
			if err := sameValues(s, v, o[k]); err != nil {
				return errors.New(strconv.Quote(k) + ": " + err.Error())
			}
		}
		return nil
	case []any:
		o, ok := out.([]any)
		if !ok || len(o) != len(in) {
			return errors.New("array differs")
		}
		for i := range in {
			if err := sameValues(s, in[i], o[i]); err != nil {
				return errors.New(strconv.Itoa(i) + ": " + err.Error())
			}
		}
		return nil
	case json.Number:
		fin, _ := strconv.ParseFloat(string(in), 64)
		if s == JS && math.IsInf(fin, 0) {
			if out != nil {
				return errors.New("JS writes an infinite number as null")
			}
			return nil
		}
		o, ok := out.(json.Number)
		if !ok {
			return errors.New("number became something else")
		}
		if s == Python && !bytes.ContainsAny([]byte(in), ".eE") {
			if string(o) != string(in) && !(in == "-0" && o == "0") {
				return errors.New("Python integer changed")
			}
			return nil
		}
		if fout, _ := strconv.ParseFloat(string(o), 64); fout != fin {
			return errors.New("number " + string(in) + " became " + string(o))
		}
		return nil
	}
	if in != out {
		return errors.New("value differs")
	}
	return nil
}

// FuzzDifferential compares Append with the real runtimes on every input:
// one long-lived process per runtime, as in TestDifferential.
func FuzzDifferential(f *testing.F) {
	addSeeds(f)
	var differs []differ
	for _, s := range styles {
		differs = append(differs, newDiffer(f, s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range differs {
			if _, errs := d.check(t, [][]byte{body}); len(errs) > 0 {
				t.Fatalf("%v: %v", d.style, errs[0])
			}
		}
	})
}
