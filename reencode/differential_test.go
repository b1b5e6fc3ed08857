package reencode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scgate/scgate/internal/runtimes"
)

// differentialBodies is how many random bodies each runtime checks.
const differentialBodies = 10000

// runtimeFor returns the real runtime of a style.
func runtimeFor(tb testing.TB, s Style) runtimes.Runtime {
	switch s {
	case JS:
		return runtimes.Node(tb)
	case Python:
		return runtimes.Python(tb)
	}
	return runtimes.PHP(tb)
}

var styles = []Style{JS, Python, PHP}

// runtimeReasons maps the errors the runtimes report (see the round-trip
// scripts in internal/runtimes) to the reasons Append must give.
var runtimeReasons = map[Style][]struct{ prefix, reason string }{
	JS: {
		{"SyntaxError: ", "invalid_json"},
	},
	Python: {
		{"JSONDecodeError: ", "invalid_json"},
		{"UnicodeDecodeError: ", "invalid_utf8"},
		{"ValueError: Exceeds the limit (4300 digits)", "integer_too_long"},
	},
	PHP: {
		{"json_decode: Syntax error", "invalid_json"},
		{"json_decode: Control character error", "invalid_json"},
		{"json_decode: State mismatch", "invalid_json"},
		{"json_decode: Malformed UTF-8", "invalid_utf8"},
		{"json_decode: Single unpaired UTF-16 surrogate", "lone_surrogate"},
		{"json_decode: The decoded property name is invalid", "key_starts_with_nul"},
		{"json_decode: Maximum stack depth exceeded", "too_deep"},
		{"json_encode: Inf and NaN cannot be JSON encoded", "number_out_of_range"},
	},
}

// checkAgainstRuntime compares Append's result for body with the runtime's
// round trip res, and returns the error to report, if any.
func checkAgainstRuntime(s Style, body []byte, res runtimes.Result) error {
	out, err := Append(nil, body, s)
	var rerr *Error
	if err != nil && !errors.As(err, &rerr) {
		return fmt.Errorf("error %v is not a *Error", err)
	}
	switch {
	case res.Err != "":
		want := ""
		for _, r := range runtimeReasons[s] {
			if strings.HasPrefix(res.Err, r.prefix) {
				want = r.reason
			}
		}
		switch {
		case want == "":
			return fmt.Errorf("runtime error %q is not in runtimeReasons", res.Err)
		case rerr == nil:
			return fmt.Errorf("runtime failed (%s) but Append wrote %q", res.Err, out)
		case rerr.Reason != want && !(malformed(want) && malformed(rerr.Reason)):
			return fmt.Errorf("runtime failed (%s) and Append says %s, want %s", res.Err, rerr.Reason, want)
		}
	case rerr != nil:
		// Append refuses what the runtime accepts only where it says so.
		switch {
		case s == JS && rerr.Reason == "invalid_utf8" && !utf8.Valid(body):
			// Node would replace the bytes with U+FFFD.
		case s == Python && rerr.Reason == "invalid_utf8" && validUTF8SurrogatePass(body):
			// json.loads decodes bytes with "surrogatepass": it reads
			// UTF-8-encoded surrogates (ED A0 80 to ED BF BF), which
			// are not UTF-8.
		case s == Python && rerr.Reason == "invalid_json" && pythonExtensions(body):
			// json.loads reads NaN and Infinity, and json.loads(bytes)
			// skips a UTF-8 byte order mark; they are not JSON.
		case s != PHP && rerr.Reason == "too_deep" && nesting(body) > MaxDepth:
		default:
			return fmt.Errorf("Append refused (%s) what the runtime re-serialises as %q", rerr.Reason, res.Out)
		}
	case !bytes.Equal(out, res.Out):
		return fmt.Errorf("Append wrote\n\t%q\nruntime wrote\n\t%q", out, res.Out)
	}
	return nil
}

// malformed reports the reasons for bytes that are not JSON text: a
// truncated body may end inside a UTF-8 sequence, which some runtimes see
// before the syntax error.
func malformed(reason string) bool { return reason == "invalid_json" || reason == "invalid_utf8" }

// validUTF8SurrogatePass reports whether b is UTF-8 but for encoded
// surrogates, and has some.
func validUTF8SurrogatePass(b []byte) bool {
	surrogates := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			if len(b) < 3 || b[0] != 0xed || b[1] < 0xa0 || b[1] > 0xbf || b[2] < 0x80 || b[2] > 0xbf {
				return false
			}
			surrogates, size = true, 3
		}
		b = b[size:]
	}
	return surrogates
}

// pythonExtensions reports whether body is JSON but for a leading byte order
// mark or the constants NaN, Infinity and -Infinity in place of numbers.
func pythonExtensions(body []byte) bool {
	b := bytes.TrimPrefix(body, []byte("\ufeff"))
	b = bytes.ReplaceAll(b, []byte("-Infinity"), []byte("0"))
	b = bytes.ReplaceAll(b, []byte("Infinity"), []byte("0"))
	b = bytes.ReplaceAll(b, []byte("NaN"), []byte("0"))
	return !bytes.Equal(b, body) && json.Valid(b)
}

// nesting returns the deepest nesting of arrays and objects in a JSON text.
func nesting(body []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// TestDifferential re-encodes thousands of random bodies with Append and
// with the real runtimes, and compares byte for byte. Append must also write
// a fixed point of the runtime's round trip (the handler re-encodes the
// forwarded body and checks the HMAC of that): the runtime must reproduce
// every output exactly. Where the runtime's own output is no fixed point
// (PHP's -0), Append must write the runtime's second round trip instead.
func TestDifferential(t *testing.T) {
	// The hand-checked cases of TestAppend first, then random bodies.
	var bodies [][]byte
	for _, tc := range cases {
		bodies = append(bodies, []byte(tc.body))
	}
	g := newBodyGen(20260222)
	defects := make(map[defect]int)
	for range differentialBodies {
		b, d := g.body()
		bodies = append(bodies, b)
		defects[d]++
	}
	t.Logf("%d bodies; random ones by defect: %v", len(bodies), defects)
	for _, s := range styles {
		rt := runtimeFor(t, s)
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			t.Logf("runtime: %s", rt)
			rtr := runtimes.StartRoundTripper(t, rt)
			first := roundTripAll(t, rtr, bodies)
			// The runtime's second round trip, of its own outputs.
			var again [][]byte
			for _, res := range first {
				again = append(again, res.Out)
			}
			second := roundTripAll(t, rtr, again)
			failures, refusedByAppend, notFixed := 0, 0, 0
			refused := make(map[string]int)
			fail := func(format string, args ...any) {
				if failures++; failures <= 10 {
					t.Errorf(format, args...)
				}
			}
			var outputs [][]byte
			for i, res := range first {
				if res.Err == "" && !bytes.Equal(second[i].Out, res.Out) {
					notFixed++
					res = second[i]
				}
				if err := checkAgainstRuntime(s, bodies[i], res); err != nil {
					fail("body %d %q:\n%v", i, truncateForLog(bodies[i]), err)
					continue
				}
				switch out, err := Append(nil, bodies[i], s); {
				case res.Err != "":
					refused[err.(*Error).Reason]++
				case err != nil:
					refusedByAppend++
				default:
					outputs = append(outputs, out)
				}
			}
			t.Logf("refused by the runtime (and by Append): %v; by Append only (as allowed): %d; %d re-encoded, %d of them where the runtime's output is no fixed point",
				refused, refusedByAppend, len(outputs), notFixed)
			for i, res := range roundTripAll(t, rtr, outputs) {
				if res.Err != "" || !bytes.Equal(res.Out, outputs[i]) {
					fail("output %q is no fixed point: runtime wrote %q, %q", truncateForLog(outputs[i]), truncateForLog(res.Out), res.Err)
				}
			}
		})
	}
}

func roundTripAll(t *testing.T, rtr *runtimes.RoundTripper, bodies [][]byte) []runtimes.Result {
	t.Helper()
	res, err := rtr.RoundTripAll(bodies)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func truncateForLog(b []byte) []byte {
	if len(b) > 600 {
		return append(b[:300:300], append([]byte(" … "), b[len(b)-300:]...)...)
	}
	return b
}
