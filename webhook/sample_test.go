package webhook

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestSampleShapes(t *testing.T) {
	tests := []struct {
		name           string
		body           []byte
		minLen, maxLen int
		event, idField string
		id             string
	}{
		{"indented 600", SampleIndented("sc_1", 600), 600, 609, ScreenshotFinished, "screenshot_id", "sc_1"},
		{"indented tiny", SampleIndented("sc_2", 10), 10, 1000, ScreenshotFinished, "screenshot_id", "sc_2"},
		{"batch 64 KiB", SampleBatch("b_1", 64<<10), 64 << 10, 64 << 10, BatchFinished, "batch_id", "b_1"},
		{"batch 1 KiB", SampleBatch("b_2", 1<<10), 1 << 10, 1 << 10, BatchFinished, "batch_id", "b_2"},
		{"batch too small for a job", SampleBatch("b_3", 10), 100, 200, BatchFinished, "batch_id", "b_3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := len(tt.body); n < tt.minLen || n > tt.maxLen {
				t.Errorf("%d bytes, want %d to %d", n, tt.minLen, tt.maxLen)
			}
			var v map[string]any
			if err := json.Unmarshal(tt.body, &v); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if v["event"] != tt.event || v[tt.idField] != tt.id {
				t.Errorf("event %v, %s %v; want %s, %s", v["event"], tt.idField, v[tt.idField], tt.event, tt.id)
			}
			if !bytes.Contains(tt.body, []byte("\n  \"event\": ")) {
				t.Errorf("not indented with two spaces: %.80q", tt.body)
			}
		})
	}
}
