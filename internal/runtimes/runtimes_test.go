package runtimes

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	body := []byte(`{ "b": [1.0, "x/é"], "a": 1 }`)
	for _, tc := range []struct {
		rt       func(testing.TB) Runtime
		want     string
		errorFor string // a body the runtime refuses
		wantErr  string
	}{
		{Node, `{"b":[1,"x/é"],"a":1}`, `{`, "SyntaxError: "},
		{Python, `{"b": [1.0, "x/\u00e9"], "a": 1}`, `[` + strings.Repeat("1", 4301) + `]`, "ValueError: Exceeds the limit (4300 digits)"},
		{PHP, `{"b":[1,"x\/\u00e9"],"a":1}`, `[1e400]`, "json_encode: Inf and NaN cannot be JSON encoded"},
	} {
		rt := tc.rt(t)
		t.Run(rt.Name, func(t *testing.T) {
			t.Logf("%s", rt)
			r := StartRoundTripper(t, rt)
			res, err := r.RoundTripAll([][]byte{body, []byte(tc.errorFor), body})
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range []int{0, 2} {
				if string(res[i].Out) != tc.want || res[i].Err != "" {
					t.Errorf("round trip %d = %q, %q; want %q", i, res[i].Out, res[i].Err, tc.want)
				}
			}
			if !strings.HasPrefix(res[1].Err, tc.wantErr) || res[1].Out != nil {
				t.Errorf("refused body: %q, %q; want error %q", res[1].Out, res[1].Err, tc.wantErr)
			}
			// One call at a time works too (no read-ahead in the scripts).
			one, err := r.RoundTrip(body)
			if err != nil || string(one.Out) != tc.want {
				t.Errorf("RoundTrip = %q, %v; want %q", one.Out, err, tc.want)
			}
		})
	}
}
