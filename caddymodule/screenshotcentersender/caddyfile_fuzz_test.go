package screenshotcentersender

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzCaddyfile: the parser never panics, and whatever it accepts
// round-trips through JSON to the same config, which the config rules
// judge exactly as they judge the parsed one (the parser only parses: it
// leaves nothing that JSON cannot carry).
func FuzzCaddyfile(f *testing.F) {
	f.Add("screenshotcenter_sender {\n\tendpoint https://example.com/hook {\n\t\tsecret {env.S}\n\t\tevents screenshot.finished\n\t}\n\tattempts 3\n\tbackoff 1s 2s\n\tallow 10.0.0.0/8\n}")
	f.Add("screenshotcenter_sender {\n\tendpoint http://127.0.0.1:1/ {\n\t\tsecret s\n\t}\n\tallow_private\n\tretain 1h\n}")
	f.Add("screenshotcenter_sender {\n}")
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return
		}
		parsed := new(Handler)
		if err := parsed.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		raw, err := json.Marshal(parsed)
		if err != nil {
			t.Fatalf("an accepted config does not marshal: %v", err)
		}
		fromJSON := new(Handler)
		if err := json.Unmarshal(raw, fromJSON); err != nil {
			t.Fatalf("its JSON does not unmarshal: %v\n%s", err, raw)
		}
		if !reflect.DeepEqual(parsed, fromJSON) {
			t.Fatalf("the JSON round trip changed the config:\n%+v\n%+v", parsed, fromJSON)
		}
		_, errParsed := parsed.check()
		_, errJSON := fromJSON.check()
		if a, b := fmt.Sprint(errParsed), fmt.Sprint(errJSON); a != b {
			t.Fatalf("the rules judge the parsed config %q and its JSON %q", a, b)
		}
	})
}
