package scheme_test

import (
	"testing"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
)

func TestParseUnix(t *testing.T) {
	for in, want := range map[string]int64{"1700000000": 1700000000, "0": 0, "999999999999": 999999999999} {
		if got, ok := scheme.ParseUnix(in); !ok || got.Unix() != want {
			t.Errorf("ParseUnix(%q) = %v %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.5", "1e9", " 1", "0x10", "1000000000000", "１"} {
		if _, ok := scheme.ParseUnix(in); ok {
			t.Errorf("ParseUnix(%q) accepted", in)
		}
	}
}

func TestCheckWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tt := range []struct {
		at   time.Duration
		want *refusal.Refusal
	}{
		{0, nil},
		{-5 * time.Minute, nil},
		{-5*time.Minute - time.Second, scheme.ErrTimestampTooOld},
		{-10 * time.Minute, scheme.ErrTimestampTooOld},
		{5 * time.Minute, nil},
		{5*time.Minute + time.Second, scheme.ErrTimestampInFuture},
	} {
		if got := scheme.CheckWindow(now.Add(tt.at), scheme.DefaultMaxAge, now); got != tt.want {
			t.Errorf("signed %v from now: %v, want %v", tt.at, got, tt.want)
		}
	}
}

// The shared-secret rule: errors name the secret's index, never its value.
func TestCheckSharedSecrets(t *testing.T) {
	for _, tt := range []struct {
		secrets [][]byte
		want    string
	}{
		{[][]byte{[]byte("0123456789abcdef")}, ""},
		{[][]byte{[]byte("0123456789abcdef"), []byte("hunter2")}, "secret 1 is shorter than 16 bytes"},
		{[][]byte{[]byte("                ")}, "secret 0 is only whitespace"},
		{[][]byte{{}}, "secret 0 is empty"},
	} {
		err := scheme.CheckSharedSecrets(tt.secrets)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q refused: %v", tt.secrets, err)
		case tt.want != "" && (err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want):
			t.Errorf("%q: %v, want %q…", tt.secrets, err, tt.want)
		}
	}
}
