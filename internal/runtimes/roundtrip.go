package runtimes

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
)

// The round-trip scripts read one base64 body per line and answer
// "ok <base64 of the re-serialised body>" or "err <error class>: <message>".
// Each parses and serialises with the runtime's defaults, as a handler that
// verifies the HMAC of the re-serialised body does.
var roundTripScripts = map[string]string{
	// JSON.stringify(JSON.parse(body)), as in the vendor's Express sample
	// (express.json() decodes the body as UTF-8 first).
	"node": `
const rl = require('readline').createInterface({input: process.stdin, crlfDelay: Infinity});
rl.on('line', (line) => {
  let answer;
  try {
    const out = JSON.stringify(JSON.parse(Buffer.from(line, 'base64').toString('utf8')));
    answer = 'ok ' + Buffer.from(out, 'utf8').toString('base64');
  } catch (e) {
    answer = 'err ' + e.name + ': ' + String(e.message).replace(/[\r\n]+/g, ' ').slice(0, 200);
  }
  process.stdout.write(answer + '\n');
});
`,
	// json.dumps(json.loads(body)) on the raw bytes, as json.loads(request.body).
	"python": `
import base64, json, sys
for line in sys.stdin.buffer:
    try:
        out = json.dumps(json.loads(base64.b64decode(line)))
        answer = 'ok ' + base64.b64encode(out.encode('utf-8', 'surrogatepass')).decode()
    except Exception as e:
        answer = 'err %s: %s' % (type(e).__name__, ' '.join(str(e).split())[:200])
    sys.stdout.write(answer + '\n')
    sys.stdout.flush()
`,
	// json_encode(json_decode($body)).
	"php": `
while (($line = fgets(STDIN)) !== false) {
    $value = json_decode(base64_decode(rtrim($line)));
    if (json_last_error() !== JSON_ERROR_NONE) {
        echo 'err json_decode: ', json_last_error_msg(), "\n";
        continue;
    }
    $out = json_encode($value);
    if ($out === false) {
        echo 'err json_encode: ', json_last_error_msg(), "\n";
        continue;
    }
    echo 'ok ', base64_encode($out), "\n";
}
`,
}

// RoundTripper is a long-lived runtime process that parses bodies and
// serialises them again with the runtime's default JSON functions.
type RoundTripper struct {
	// Runtime is the interpreter doing the round trips.
	Runtime Runtime
	p       *Process
}

// Result is one round trip: the re-serialised body, or the runtime's error
// ("<error class>: <message>", e.g. "json_encode: Inf and NaN cannot be JSON
// encoded") when it failed.
type Result struct {
	Out []byte
	Err string
}

// StartRoundTripper starts the round-trip script of rt. It is stopped when tb
// ends.
func StartRoundTripper(tb testing.TB, rt Runtime) *RoundTripper {
	tb.Helper()
	script, ok := roundTripScripts[rt.Name]
	if !ok {
		tb.Fatalf("runtimes: no round-trip script for %q", rt.Name)
	}
	return &RoundTripper{Runtime: rt, p: Start(tb, rt, script)}
}

// RoundTrip returns the runtime's round trip of body.
func (r *RoundTripper) RoundTrip(body []byte) (Result, error) {
	res, err := r.RoundTripAll([][]byte{body})
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

// RoundTripAll returns the runtime's round trips of bodies, in order,
// pipelined through the one process.
func (r *RoundTripper) RoundTripAll(bodies [][]byte) ([]Result, error) {
	reqs := make([][]byte, len(bodies))
	for i, b := range bodies {
		reqs[i] = base64.StdEncoding.AppendEncode(nil, b)
	}
	answers, err := r.p.CallAll(reqs)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(answers))
	for i, a := range answers {
		switch {
		case bytes.HasPrefix(a, []byte("ok ")):
			out, err := base64.StdEncoding.AppendDecode(nil, a[3:])
			if err != nil {
				return nil, fmt.Errorf("runtimes: %s answered bad base64: %v", r.Runtime, err)
			}
			results[i].Out = out
		case bytes.HasPrefix(a, []byte("err ")):
			results[i].Err = string(a[4:])
		default:
			return nil, fmt.Errorf("runtimes: %s answered %.100q", r.Runtime, a)
		}
	}
	return results, nil
}
