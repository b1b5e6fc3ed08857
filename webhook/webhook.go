// Package webhook is the ScreenshotCenter wire format, shared by the
// receiver gateway and the sender: the header and event names (this file),
// the fields the gateway reads from a body, in the one pass of the strict
// JSON grammar (parse.go, on package strictjson), bounded body reading
// (body.go) and realistic sample bodies (sample.go). It does not import
// Caddy.
package webhook

// Header names used by ScreenshotCenter deliveries.
const (
	// HeaderEvent carries the event name. It is not covered by the signature,
	// so the gateway treats the body's "event" field as the truth.
	HeaderEvent = "X-ScreenshotCenter-Event"
	// HeaderSignature carries "sha256=<hex HMAC-SHA256(secret, raw body)>".
	HeaderSignature = "X-ScreenshotCenter-Signature"
	// HeaderSignatureAlt is a generic alternative name accepted by default.
	HeaderSignatureAlt = "X-Signature"
)

// The events ScreenshotCenter sends.
const (
	ScreenshotFinished = "screenshot.finished"
	ScreenshotFailed   = "screenshot.failed"
	BatchFinished      = "batch.finished"
	AppUploadFinished  = "app.upload.finished"
	AppUploadFailed    = "app.upload.failed"
)

// Names lists every known event, in the vendor's order.
var Names = []string{ScreenshotFinished, ScreenshotFailed, BatchFinished, AppUploadFinished, AppUploadFailed}

// EventHeaderAgrees is the rule of the unsigned X-ScreenshotCenter-Event
// header: every line of it, if any, names the body's event. The receiver,
// the sender sidecar and `scgate send` all hold a request to it.
func EventHeaderAgrees(lines []string, event []byte) bool {
	for _, v := range lines {
		if v != string(event) {
			return false
		}
	}
	return true
}
