package screenshotcenterwebhook

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
	f.Add("screenshotcenter_webhook {\n\tsecret {env.A} b\n\tmax_body 64KiB\n\treencode js\n\tdedupe redis {\n\t\turl redis://127.0.0.1:1\n\t\tkey {event}/{screenshot_id}\n\t}\n}")
	f.Add("screenshotcenter_webhook {\n\tsecret s\n\tdedupe memory {\n\t\tmax_keys 10\n\t\tpersist /tmp/x\n\t}\n}")
	f.Add("screenshotcenter_webhook {\n\tsecret s\n\tinbox {\n\t\tdeliver_to http://127.0.0.1:9/\n\t\tbackoff 1s 2m\n\t\trate 5/s\n\t\torder_by {screenshot_id}\n\t}\n}")
	f.Add("screenshotcenter_webhook {\n}")
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
