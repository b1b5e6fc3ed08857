package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
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

// SampleIndented is Sample pretty-printed with two-space indentation, as
// many senders write JSON: the smallest padding that makes it at least
// minSize bytes.
func SampleIndented(id string, minSize int) []byte {
	var b bytes.Buffer
	for size := 0; ; size += 10 {
		b.Reset()
		if err := json.Indent(&b, Sample(id, size), "", "  "); err != nil {
			panic(err) // Sample is valid JSON
		}
		if b.Len() >= minSize {
			return b.Bytes()
		}
	}
}

// SampleBatch returns a pretty-printed batch.finished body of exactly size
// bytes: as many jobs as fit, each with strings, integers, a float and some
// non-ASCII text, then trailing newlines up to size (the body without jobs,
// about 150 bytes, if size is smaller). It is the large body of benchmarks.
func SampleBatch(batchID string, size int) []byte {
	var compact, indented, previous bytes.Buffer
	for jobs := 0; ; jobs++ {
		compact.Reset()
		compact.WriteString(`{"event":"batch.finished","batch_id":` + strconv.Quote(batchID) + `,"created_at":"2026-02-22T14:30:00Z","jobs":[`)
		for i := range jobs {
			if i > 0 {
				compact.WriteByte(',')
			}
			fmt.Fprintf(&compact, `{"screenshot_id":"sc_%06d","status":"finished","url":"https://example.com/page/%d","title":"Pricing – Example № %d","image_url":"https://cdn.screenshotcenter.com/sc_%06d.png","width":1280,"height":720,"duration":%d.%03d}`,
				i, i, i, i, 1+i%7, (i*37)%1000)
		}
		compact.WriteString(`],"summary":{"finished":1,"failed":0}}`)
		previous.Reset()
		previous.Write(indented.Bytes())
		indented.Reset()
		if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
			panic(err) // written above as valid JSON
		}
		if indented.Len() > size {
			if jobs == 0 {
				return indented.Bytes() // size is too small for any job
			}
			// The body with one job less, padded with trailing whitespace.
			return append(previous.Bytes(), bytes.Repeat([]byte{'\n'}, size-previous.Len())...)
		}
	}
}

type sampleMetadata struct {
	Customer string   `json:"customer"`
	Campaign string   `json:"campaign"`
	Tags     []string `json:"tags"`
	Note     string   `json:"note,omitempty"`
}
