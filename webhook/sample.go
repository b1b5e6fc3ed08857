package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SampleBody returns a realistic body of the named event, shaped like the
// vendor's examples: id is the screenshot_id (the batch_id of
// batch.finished) and createdAt its created_at. If minSize is larger than
// the body, its metadata gets a "note" that pads it to at least minSize
// bytes (the vendor's examples are about 250 bytes; 600 is typical with
// metadata). It is what `scgate send` sends without --data and what the
// tests and benchmarks use.
func SampleBody(name, id string, createdAt time.Time, minSize int) ([]byte, error) {
	created := createdAt.UTC().Format(time.RFC3339)
	meta := &sampleMetadata{Customer: "acme-corp", Campaign: "spring-launch", Tags: []string{"landing", "pricing"}}
	var v any
	switch name {
	case ScreenshotFinished:
		v = struct {
			Event        string          `json:"event"`
			ScreenshotID string          `json:"screenshot_id"`
			URL          string          `json:"url"`
			Status       string          `json:"status"`
			ImageURL     string          `json:"image_url"`
			Width        int             `json:"width"`
			Height       int             `json:"height"`
			CreatedAt    string          `json:"created_at"`
			Metadata     *sampleMetadata `json:"metadata"`
		}{name, id, "https://example.com/pricing?ref=newsletter", "finished",
			"https://cdn.screenshotcenter.com/" + id + ".png", 1280, 720, created, meta}
	case ScreenshotFailed:
		v = struct {
			Event        string          `json:"event"`
			ScreenshotID string          `json:"screenshot_id"`
			URL          string          `json:"url"`
			Status       string          `json:"status"`
			Error        string          `json:"error"`
			CreatedAt    string          `json:"created_at"`
			Metadata     *sampleMetadata `json:"metadata"`
		}{name, id, "https://example.com/pricing?ref=newsletter", "failed", "navigation timeout after 30s", created, meta}
	case BatchFinished:
		v = struct {
			Event     string          `json:"event"`
			BatchID   string          `json:"batch_id"`
			Status    string          `json:"status"`
			Total     int             `json:"total"`
			Finished  int             `json:"finished"`
			Failed    int             `json:"failed"`
			CreatedAt string          `json:"created_at"`
			Metadata  *sampleMetadata `json:"metadata"`
		}{name, id, "finished", 3, 2, 1, created, meta}
	case AppUploadFinished, AppUploadFailed:
		status, errText := "finished", ""
		if name == AppUploadFailed {
			status, errText = "failed", "storage credentials rejected"
		}
		v = struct {
			Event        string          `json:"event"`
			ScreenshotID string          `json:"screenshot_id"`
			App          string          `json:"app"`
			Status       string          `json:"status"`
			Error        string          `json:"error,omitempty"`
			CreatedAt    string          `json:"created_at"`
			Metadata     *sampleMetadata `json:"metadata"`
		}{name, id, "my-s3-app", status, errText, created, meta}
	default:
		return nil, fmt.Errorf("no sample for event %q (known events: %s)", name, strings.Join(Names, ", "))
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if pad := minSize - len(body) - len(`,"note":""`); pad > 0 {
		note := make([]byte, pad)
		for i := range note {
			note[i] = 'a' + byte(i%26)
		}
		meta.Note = string(note)
		return json.Marshal(v)
	}
	return body, nil
}

// Sample returns a screenshot.finished SampleBody for id, created now,
// padded to at least minSize bytes: the body of tests and benchmarks.
func Sample(id string, minSize int) []byte {
	b, err := SampleBody(ScreenshotFinished, id, time.Now(), minSize)
	if err != nil {
		panic(err) // a known event always has a sample
	}
	return b
}

type sampleMetadata struct {
	Customer string   `json:"customer"`
	Campaign string   `json:"campaign"`
	Tags     []string `json:"tags"`
	Note     string   `json:"note,omitempty"`
}
