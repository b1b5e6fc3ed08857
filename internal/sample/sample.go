// Package sample builds realistic ScreenshotCenter event bodies for tests
// and benchmarks.
package sample

import (
	"bytes"
	"fmt"
	"time"
)

// Body returns a screenshot.finished body for id, padded with metadata to at
// least size bytes (the vendor's sample is about 250 bytes; 600 is typical
// with metadata).
func Body(id string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"event":"screenshot.finished","screenshot_id":%q,"url":"https://example.com/pricing?ref=newsletter","status":"finished","image_url":"https://cdn.screenshotcenter.com/%s.png","width":1280,"height":720,"created_at":%q,"metadata":{"customer":"acme-corp","campaign":"spring-launch","tags":["landing","pricing"]`,
		id, id, time.Now().UTC().Format(time.RFC3339))
	if pad := size - b.Len() - len(`,"note":""}}`); pad > 0 {
		b.WriteString(`,"note":"`)
		for i := 0; i < pad; i++ {
			b.WriteByte('a' + byte(i%26))
		}
		b.WriteString(`"`)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}
