package screenshotcenterwebhook

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/webhook"
)

const placeholderPrefix = "http.screenshotcenter_webhook."

// requestVars is what the handler learned about one request. It answers the
// http.screenshotcenter_webhook.* placeholders when something asks for them
// (an access log, a header directive, the key template), so a request whose
// placeholders nobody reads costs no string conversions.
type requestVars struct {
	body        []byte
	fields      webhook.Fields
	parsed      bool
	secretIndex int
	key         string
	outcome     string
	reason      string
	mode        string
	// upstream is how long the upstream took to answer a forwarded event.
	upstream time.Duration
}

// newRequestVars registers a requestVars as a provider of repl.
func newRequestVars(repl *caddy.Replacer, mode string) *requestVars {
	v := &requestVars{secretIndex: -1, mode: mode}
	repl.Map(v.replace)
	return v
}

// setEvent records the event that passed the checks.
func (v *requestVars) setEvent(ev gateway.Event) {
	v.body, v.fields, v.parsed, v.secretIndex = ev.Body, ev.Fields, true, ev.SecretIndex
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
	case "secret_index":
		return v.secretIndex, v.secretIndex >= 0
	}
	if !v.parsed {
		return nil, false
	}
	switch name {
	case "event":
		return string(v.fields.Event), true
	case "screenshot_id":
		return optional(v.fields.ScreenshotID)
	case "batch_id":
		return optional(v.fields.BatchID)
	case "created_at":
		return optional(v.fields.CreatedAt)
	case "body_sha256":
		sum := sha256.Sum256(v.body)
		return hex.EncodeToString(sum[:]), true
	}
	return nil, false
}

func optional(b []byte) (any, bool) {
	if b == nil {
		return nil, false
	}
	return string(b), true
}
