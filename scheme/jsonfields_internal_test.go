package scheme

import (
	"encoding/json"
	"testing"
)

// FuzzReadJSON: readJSON never panics, accepts only one valid JSON object,
// and reads the members an application reads with encoding/json.
func FuzzReadJSON(f *testing.F) {
	for _, seed := range []string{
		`{"type":"a","id":"1"}`,
		`{"type":"event_callback","event":{"type":"app_mention","TYPE":1},"id":12}`,
		`{"event":{"type":"x","type":"y"}}`,
		`{"type":"a\ud83d\ude00","x":[{"type":1},"\\ud800"]}`,
		`{"Type":"a"}`,
		`[1]`,
		`{"type":"a"}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		members := []jsonMember{{name: "type"}, {name: "id"}, {name: "event"}, {parent: "event", name: "type"}}
		if readJSON(body, members) != nil {
			return
		}
		var top map[string]json.RawMessage
		if !json.Valid(body) || json.Unmarshal(body, &top) != nil {
			t.Fatalf("accepted %q, which is not one JSON object", body)
		}
		check := func(obj map[string]json.RawMessage, m jsonMember) {
			raw, ok := obj[m.name]
			if !ok {
				if m.kind != jsonAbsent {
					t.Fatalf("%q: %s read but absent", body, m.name)
				}
				return
			}
			switch m.kind {
			case jsonString:
				var s string
				if json.Unmarshal(raw, &s) != nil || s != string(m.value) {
					t.Fatalf("%q: %s read as %q, encoding/json reads %s", body, m.name, m.value, raw)
				}
			case jsonNumber:
				if string(raw) != string(m.value) {
					t.Fatalf("%q: %s read as %q, written %s", body, m.name, m.value, raw)
				}
			case jsonAbsent:
				t.Fatalf("%q: %s present but not read", body, m.name)
			}
		}
		for _, m := range members[:3] {
			check(top, m)
		}
		var event map[string]json.RawMessage
		if members[2].kind == jsonObject && json.Unmarshal(top["event"], &event) == nil {
			check(event, members[3])
		}
	})
}
