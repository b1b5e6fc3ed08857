package verifier

import (
	"errors"
	"strings"
	"testing"
)

// The test vector from GitHub's webhook documentation.
const (
	ghSecret = "It's a Secret to Everybody"
	ghBody   = "Hello, World!"
	ghSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestSignGitHubVector(t *testing.T) {
	if got := Sign([]byte(ghSecret), []byte(ghBody)); got != ghSig {
		t.Fatalf("Sign = %s, want %s", got, ghSig)
	}
}

func TestVerify(t *testing.T) {
	other := Sign([]byte("another secret, 16+ bytes"), []byte(ghBody))
	hexPart := strings.TrimPrefix(ghSig, Prefix)
	tests := []struct {
		name      string
		secrets   []string
		body      string
		headers   []string
		wantIndex int
		wantErr   error
	}{
		{"github vector", []string{ghSecret}, ghBody, []string{ghSig}, 0, nil},
		{"uppercase hex", []string{ghSecret}, ghBody, []string{Prefix + strings.ToUpper(hexPart)}, 0, nil},
		{"uppercase prefix", []string{ghSecret}, ghBody, []string{"SHA256=" + hexPart}, 0, nil},
		{"several values comma", []string{ghSecret}, ghBody, []string{other + "," + ghSig}, 0, nil},
		{"several values space", []string{ghSecret}, ghBody, []string{other + "  " + ghSig}, 0, nil},
		{"several values comma space", []string{ghSecret}, ghBody, []string{other + ", " + ghSig}, 0, nil},
		{"several header lines", []string{ghSecret}, ghBody, []string{other, ghSig}, 0, nil},
		{"second secret matches", []string{"old-secret-0123456789", ghSecret}, ghBody, []string{ghSig}, 1, nil},
		{"first of two secrets", []string{ghSecret, "new-secret-0123456789"}, ghBody, []string{ghSig}, 0, nil},
		{"other scheme ignored next to valid", []string{ghSecret}, ghBody, []string{"v1=abc, " + ghSig}, 0, nil},
		{"no header", []string{ghSecret}, ghBody, nil, -1, ErrNoSignature},
		{"blank header", []string{ghSecret}, ghBody, []string{"  ,  "}, -1, ErrNoSignature},
		{"wrong prefix", []string{ghSecret}, ghBody, []string{"sha1=" + hexPart}, -1, ErrMalformedSignature},
		{"no prefix", []string{ghSecret}, ghBody, []string{hexPart}, -1, ErrMalformedSignature},
		{"truncated", []string{ghSecret}, ghBody, []string{ghSig[:len(ghSig)-2]}, -1, ErrMalformedSignature},
		{"too long", []string{ghSecret}, ghBody, []string{ghSig + "00"}, -1, ErrMalformedSignature},
		{"non hex", []string{ghSecret}, ghBody, []string{ghSig[:len(ghSig)-1] + "g"}, -1, ErrMalformedSignature},
		{"empty hex", []string{ghSecret}, ghBody, []string{Prefix}, -1, ErrMalformedSignature},
		{"wrong secret", []string{"nope-secret-0123456789"}, ghBody, []string{ghSig}, -1, ErrMismatch},
		{"other body", []string{ghSecret}, ghBody + "!", []string{ghSig}, -1, ErrMismatch},
		{"too many values", []string{ghSecret}, ghBody, []string{strings.Repeat(other+",", MaxSignatureValues) + ghSig}, -1, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := make([][]byte, len(tt.secrets))
			for i, s := range tt.secrets {
				secrets[i] = []byte(s)
			}
			v, err := New(secrets)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := v.Verify([]byte(tt.body), tt.headers)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if idx != tt.wantIndex {
				t.Fatalf("index = %d, want %d", idx, tt.wantIndex)
			}
		})
	}
}

// A body that means the same JSON but differs in whitespace is a different
// body: verification is over the raw bytes, never a re-serialization.
func TestVerifyRejectsReserializedBody(t *testing.T) {
	secret := []byte("s3cret-0123456789")
	raw := []byte(`{"event": "screenshot.finished", "screenshot_id": "sc_1"}`)
	reserialized := []byte(`{"event":"screenshot.finished","screenshot_id":"sc_1"}`)
	sig := Sign(secret, raw)
	v, err := New([][]byte{secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(raw, []string{sig}); err != nil {
		t.Fatalf("raw body: %v", err)
	}
	if _, err := v.Verify(reserialized, []string{sig}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("re-serialized body: err = %v, want ErrMismatch", err)
	}
}

func TestNewRejectsEmpty(t *testing.T) {
	if _, err := New(nil); !errors.Is(err, ErrNoSecrets) {
		t.Fatalf("New(nil) = %v", err)
	}
	for _, weak := range []string{"", "short", "fifteen-bytes!!", "                "} {
		if _, err := New([][]byte{[]byte(ghSecret), []byte(weak)}); !errors.Is(err, ErrWeakSecret) {
			t.Errorf("New with secret %q = %v, want ErrWeakSecret", weak, err)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v, _ := New([][]byte{[]byte(ghSecret)})
	done := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() {
			for j := 0; j < 200; j++ {
				if _, err := v.Verify([]byte(ghBody), []string{ghSig}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifierSignUsesTheSecretAtIndex(t *testing.T) {
	v, err := New([][]byte{[]byte("old-secret-0123456789"), []byte("new-secret-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event":"e"}`)
	for i, secret := range []string{"old-secret-0123456789", "new-secret-0123456789"} {
		if got, want := v.Sign(i, body), Sign([]byte(secret), body); got != want {
			t.Errorf("Sign(%d) = %s, want %s", i, got, want)
		}
	}
}

// FuzzVerify: a body verifies with its own signature, under any of the
// secrets; changed in one byte, or under another secret, it never does.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(ghSecret), []byte(ghBody), uint(0), byte(1))
	f.Add([]byte("s-0123456789abcdef"), []byte(`{"event":"screenshot.finished"}`), uint(12), byte(0x20))
	f.Fuzz(func(t *testing.T, secret, body []byte, pos uint, flip byte) {
		if CheckSecret(secret) != nil {
			return
		}
		v, err := New([][]byte{[]byte("another-secret-0123456789"), secret})
		if err != nil {
			t.Fatal(err)
		}
		sig := Sign(secret, body)
		if i, err := v.Verify(body, []string{sig}); err != nil || (i != 1 && string(secret) != "another-secret-0123456789") {
			t.Fatalf("own signature: index %d, %v", i, err)
		}
		if len(body) > 0 && flip != 0 {
			changed := append([]byte(nil), body...)
			changed[pos%uint(len(body))] ^= flip
			if _, err := v.Verify(changed, []string{sig}); err == nil {
				t.Fatalf("a body changed in one byte verified")
			}
		}
		other, _ := New([][]byte{append(append([]byte(nil), secret...), 'x')})
		if _, err := other.Verify(body, []string{sig}); err == nil {
			t.Fatalf("verified under another secret")
		}
	})
}
