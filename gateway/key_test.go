package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/scgate/scgate/webhook"
)

func TestDefaultKey(t *testing.T) {
	body := []byte(`{"event":"batch.finished"}`)
	sum := sha256.Sum256(body)
	tests := []struct {
		name string
		f    webhook.Fields
		want string
	}{
		{"screenshot", webhook.Fields{Event: []byte("screenshot.finished"), ScreenshotID: []byte("sc_1"), BatchID: []byte("b")}, "screenshot.finished|sc_1"},
		{"upload of same screenshot differs", webhook.Fields{Event: []byte("app.upload.finished"), ScreenshotID: []byte("sc_1")}, "app.upload.finished|sc_1"},
		{"batch", webhook.Fields{Event: []byte("batch.finished"), BatchID: []byte("b_9")}, "batch.finished|batch:b_9"},
		{"empty screenshot_id counts as absent", webhook.Fields{Event: []byte("batch.finished"), ScreenshotID: []byte{}, BatchID: []byte("b_9")}, "batch.finished|batch:b_9"},
		{"empty ids fall back to the body hash", webhook.Fields{Event: []byte("batch.finished"), ScreenshotID: []byte{}, BatchID: []byte{}}, "batch.finished|sha256:" + hex.EncodeToString(sum[:])},
		{"neither", webhook.Fields{Event: []byte("batch.finished")}, "batch.finished|sha256:" + hex.EncodeToString(sum[:])},
	}
	for _, tt := range tests {
		if got := DefaultKey(Event{Body: body, Fields: tt.f}); got != tt.want {
			t.Errorf("%s: key = %q, want %q", tt.name, got, tt.want)
		}
	}
}
