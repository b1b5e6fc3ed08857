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
// round trip res, and returns the error to report, if any. Where the runtime
// fails, Append must fail with the same reason, unless the body is not JSON
// at all: then the runtimes report whatever their parser meets first (PHP's
// scanner, for one, reads the whole unexpected token before the syntax error
// and may find a lone surrogate in it), and Append may differ.
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
		case rerr.Reason != want && json.Valid(body):
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
		case s == Python && malformed(rerr.Reason) && pythonUTF16or32(body):
			// json.loads(bytes) decodes UTF-16 and UTF-32 too.
		case s != PHP && rerr.Reason == "too_deep" && nesting(body) > MaxDepth:
		default:
			return fmt.Errorf("Append refused (%s) what the runtime re-serialises as %q", rerr.Reason, res.Out)
		}
	case !bytes.Equal(out, res.Out):
		return fmt.Errorf("Append wrote\n\t%q\nruntime wrote\n\t%q", out, res.Out)
	}
	return nil
}

// malformed reports the reasons for bytes that are not JSON text.
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

// pythonUTF16or32 reports whether json.loads(body) decodes body as UTF-16
// or UTF-32 (json.detect_encoding): after a byte order mark of those, or
// with a zero byte among the first (up to 4) bytes.
func pythonUTF16or32(body []byte) bool {
	for _, bom := range []string{"\xfe\xff", "\xff\xfe"} {
		if bytes.HasPrefix(body, []byte(bom)) {
			return true
		}
	}
	return (len(body) >= 4 || len(body) == 2) && bytes.IndexByte(body[:min(len(body), 4)], 0) >= 0
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

// differ compares Append in one style with the style's real runtime.
type differ struct {
	style Style
	rtr   *runtimes.RoundTripper
}

func newDiffer(tb testing.TB, s Style) differ {
	return differ{s, runtimes.StartRoundTripper(tb, runtimeFor(tb, s))}
}

// diffStats says what a comparison covered.
type diffStats struct {
	refused         map[string]int // by the runtime and Append, by reason
	refusedByAppend int            // by Append only, as allowed
	reencoded       int
	notFixed        int // re-encoded where the runtime's output is no fixed point
}

// check re-encodes bodies with Append and with the runtime and returns the
// mismatches. Append must also write a fixed point of the runtime's round
// trip (the handler re-encodes the forwarded body and checks the HMAC of
// that): the runtime must reproduce every output exactly. Where the
// runtime's own output is no fixed point (PHP's -0), Append must write the
// runtime's second round trip instead.
func (d differ) check(tb testing.TB, bodies [][]byte) (diffStats, []error) {
	tb.Helper()
	st := diffStats{refused: make(map[string]int)}
	first := d.roundTripAll(tb, bodies)
	again := make([][]byte, len(first))
	for i, res := range first {
		again[i] = res.Out
	}
	second := d.roundTripAll(tb, again)
	var errs []error
	var outputs [][]byte
	for i, res := range first {
		if res.Err == "" && !bytes.Equal(second[i].Out, res.Out) {
			st.notFixed++
			res = second[i]
		}
		if err := checkAgainstRuntime(d.style, bodies[i], res); err != nil {
			errs = append(errs, fmt.Errorf("body %d %q:\n%v", i, truncateForLog(bodies[i]), err))
			continue
		}
		switch out, err := Append(nil, bodies[i], d.style); {
		case res.Err != "":
			st.refused[err.(*Error).Reason]++
		case err != nil:
			st.refusedByAppend++
		default:
			outputs = append(outputs, out)
		}
	}
	st.reencoded = len(outputs)
	for i, res := range d.roundTripAll(tb, outputs) {
		if res.Err != "" || !bytes.Equal(res.Out, outputs[i]) {
			errs = append(errs, fmt.Errorf("output %q is no fixed point: runtime wrote %q, %q", truncateForLog(outputs[i]), truncateForLog(res.Out), res.Err))
		}
	}
	return st, errs
}

func (d differ) roundTripAll(tb testing.TB, bodies [][]byte) []runtimes.Result {
	tb.Helper()
	res, err := d.rtr.RoundTripAll(bodies)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestDifferential re-encodes thousands of random bodies, and the cases of
// TestAppend, with Append and with the real runtimes, and compares byte for
// byte (see differ.check).
func TestDifferential(t *testing.T) {
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
		d := newDiffer(t, s)
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			t.Logf("runtime: %s", d.rtr.Runtime)
			st, errs := d.check(t, bodies)
			for i, err := range errs {
				if i == 10 {
					t.Errorf("and %d more", len(errs)-i)
					break
				}
				t.Error(err)
			}
			t.Logf("refused by the runtime (and by Append): %v; by Append only (as allowed): %d; %d re-encoded, %d of them where the runtime's output is no fixed point",
				st.refused, st.refusedByAppend, st.reencoded, st.notFixed)
		})
	}
}

func truncateForLog(b []byte) []byte {
	if len(b) > 600 {
		return append(b[:300:300], append([]byte(" … "), b[len(b)-300:]...)...)
	}
	return b
}

// TestDifferentialLarge compares Append with the runtimes on a few bodies of
// about 1 MiB (the gateway's default limit): one object with many members
// (repeated and array-index keys among them), one long string, one long
// array of numbers.
func TestDifferentialLarge(t *testing.T) {
	var members, str, numbers bytes.Buffer
	members.WriteString("{")
	for i := range 60000 {
		if i > 0 {
			members.WriteString(", ")
		}
		switch {
		case i%7 == 0:
			fmt.Fprintf(&members, `"k%d": %d`, i%1000, i) // repeats an earlier key
		case i%11 == 0:
			fmt.Fprintf(&members, `"%d": "v"`, 100000-i) // array index
		default:
			fmt.Fprintf(&members, `"key-%d": [%d.5, "x"]`, i, i)
		}
	}
	members.WriteString("}")
	g := newBodyGen(99)
	str.WriteString(`{"s": "`)
	for str.Len() < 1<<20 {
		g.piece(false)
		str.Write(g.b)
		g.b = g.b[:0]
	}
	str.WriteString(`"}`)
	numbers.WriteString("[")
	for i := 0; numbers.Len() < 1<<20; i++ {
		if i > 0 {
			numbers.WriteString(",\n")
		}
		g.number()
		numbers.Write(g.b)
		g.b = g.b[:0]
	}
	numbers.WriteString("]")
	bodies := [][]byte{members.Bytes(), str.Bytes(), numbers.Bytes()}
	for _, s := range styles {
		d := newDiffer(t, s)
		t.Run(s.String(), func(t *testing.T) {
			st, errs := d.check(t, bodies)
			for _, err := range errs {
				t.Error(err)
			}
			t.Logf("refused: %v; re-encoded %d", st.refused, st.reencoded)
		})
	}
}
