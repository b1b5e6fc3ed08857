package scheme

import (
	"testing"
	"time"

	"github.com/scgate/scgate/refusal"
)

func TestUnixTime(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		want  *refusal.Refusal
	}{
		{nil, ErrTimestampMissing},
		{[]string{""}, ErrTimestampInvalid},
		{[]string{"1674087231", "1674087231"}, ErrTimestampInvalid},
		{[]string{"01674087231"}, ErrTimestampInvalid},
		{[]string{"+1674087231"}, ErrTimestampInvalid},
		{[]string{"-1"}, ErrTimestampInvalid},
		{[]string{" 1674087231"}, ErrTimestampInvalid},
		{[]string{"1674087231.5"}, ErrTimestampInvalid},
		{[]string{"1234567890123"}, ErrTimestampInvalid},
		{[]string{"0"}, nil},
		{[]string{"1674087231"}, nil},
	} {
		v, ts, rf := unixTime(tt.lines)
		if rf != tt.want {
			t.Errorf("%q: %v, want %v", tt.lines, rf, tt.want)
			continue
		}
		if rf == nil && v != tt.lines[0] {
			t.Errorf("%q: read as %q %v", tt.lines, v, ts)
		}
	}
	if _, ts, _ := unixTime([]string{"1674087231"}); ts.Unix() != 1674087231 {
		t.Errorf("1674087231 read as %d", ts.Unix())
	}
}

func TestCheckWindow(t *testing.T) {
	now := time.Unix(1674087231, 0)
	for _, tt := range []struct {
		age    time.Duration
		maxAge time.Duration
		want   *refusal.Refusal
	}{
		{0, 0, nil},
		{5 * time.Minute, 0, nil},
		{5*time.Minute + time.Second, 0, ErrTimestampTooOld},
		{10 * time.Minute, 0, ErrTimestampTooOld},
		{10 * time.Minute, time.Hour, nil},
		{2 * time.Minute, time.Minute, ErrTimestampTooOld},
		{-5 * time.Minute, 0, nil},
		{-5*time.Minute - time.Second, 0, ErrTimestampInFuture},
	} {
		if rf := checkWindow(now.Add(-tt.age), tt.maxAge, now); rf != tt.want {
			t.Errorf("age %v, max_age %v: %v, want %v", tt.age, tt.maxAge, rf, tt.want)
		}
	}
}
