package adminapi

import (
	"errors"
	"testing"
)

func TestMessage(t *testing.T) {
	tests := []struct{ err, want string }{
		{`caddy responded with error: HTTP 404: {"error":"delivery x not found"}` + "\n", "delivery x not found"},
		{`caddy responded with error: HTTP 502: {"not":"ours"}`, `caddy responded with error: HTTP 502: {"not":"ours"}`},
		{"performing request: dial tcp 127.0.0.1:1: connect: connection refused", "performing request: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tt := range tests {
		if got := Message(errors.New(tt.err)); got != tt.want {
			t.Errorf("Message(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
