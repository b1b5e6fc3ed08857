package screenshotcenterwebhook

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/scheme"
)

const placeholderPrefix = "http.screenshotcenter_webhook."

// requestVars is what the handler learned about one request. It answers the
// http.screenshotcenter_webhook.* placeholders when something asks for them
// (an access log, a header directive, the key template), so a request whose
// placeholders nobody reads costs no string conversions.
type requestVars struct {
	scheme      scheme.Scheme
	body        []byte
	signed      scheme.Event
	parsed      bool
	secretIndex int
	key         string
	delivery    string
	outcome     string
	reason      string
	mode        string
	// upstream is how long the upstream took to answer a forwarded event.
	upstream time.Duration
}

// newRequestVars registers a requestVars of a handler of scheme sch as a
// provider of repl.
func newRequestVars(repl *caddy.Replacer, mode string, sch scheme.Scheme) *requestVars {
	v := &requestVars{scheme: sch, secretIndex: -1, mode: mode}
	repl.Map(v.replace)
	return v
}

// setEvent records the event that passed the checks.
func (v *requestVars) setEvent(ev gateway.Event) {
	v.body, v.signed, v.parsed, v.secretIndex = ev.Body, ev.Signed, true, ev.SecretIndex
}

func (v *requestVars) replace(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "outcome":
		return v.outcome, v.outcome != ""
	case "reason":
		return v.reason, v.reason != ""
	case "mode":
		return v.mode, true
	case "dedupe_key":
		return v.key, v.key != ""
	case "delivery_id":
		return v.delivery, v.delivery != ""
	case "secret_index":
		return v.secretIndex, v.secretIndex >= 0
	}
	if !v.parsed {
		return nil, false
	}
	switch name {
	case gateway.BodySHA256:
		sum := sha256.Sum256(v.body)
		return hex.EncodeToString(sum[:]), true
	case "event":
		return string(v.signed.Type), true
	case "id":
		id, ok := v.scheme.Identity(v.signed)
		return string(id.Value), ok
	}
	// The scheme's signed fields (screenshot_id, batch_id, created_at for
	// ScreenshotCenter), when the event has them.
	f, ok := v.signed.Field(name)
	if !ok {
		return nil, false
	}
	return string(f.Value), true
}
