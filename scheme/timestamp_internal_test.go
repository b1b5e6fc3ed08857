package scheme

import (
	"testing"

	"github.com/scgate/scgate/refusal"
)

func TestTimestampHeader(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		want  *refusal.Refusal
	}{
		{nil, ErrTimestampMissing},
		{[]string{""}, ErrTimestampInvalid},
		{[]string{"1674087231", "1674087231"}, ErrTimestampInvalid},
		{[]string{"+1674087231"}, ErrTimestampInvalid},
		{[]string{" 1674087231"}, ErrTimestampInvalid},
		{[]string{"1674087231.5"}, ErrTimestampInvalid},
		{[]string{"1674087231"}, nil},
	} {
		v, ts, rf := timestampHeader(tt.lines)
		if rf != tt.want || rf == nil && (v != tt.lines[0] || ts.Unix() != 1674087231) {
			t.Errorf("%q: %q %v %v, want %v", tt.lines, v, ts, rf, tt.want)
		}
	}
}
