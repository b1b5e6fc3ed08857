package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

const secret = "check-secret-0123456"

func newChecker(t testing.TB, mod func(*Checker)) *Checker {
	c := &Checker{Scheme: newScheme(t, 0), MaxBody: 1 << 10}
	if mod != nil {
		mod(c)
	}
	return c
}

// newScheme is ScreenshotCenter's scheme with the test secret and the
// replay window maxAge (0: none).
func newScheme(t testing.TB, maxAge time.Duration) scheme.Scheme {
	sc, err := scheme.New(scheme.ScreenshotCenter, scheme.Config{
		Secrets:          [][]byte{[]byte(secret)},
		SignatureHeaders: []string{"X-ScreenshotCenter-Signature", "X-Signature"},
		MaxAge:           maxAge,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func signedRequest(method, body string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, "/hook", strings.NewReader(body))
	r.Header.Set("X-ScreenshotCenter-Signature", verifier.Sign([]byte(secret), []byte(body)))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ok := `{"event":"screenshot.finished","screenshot_id":"sc_1","created_at":"2026-11-27T11:59:00Z"}`
	withAge := func(c *Checker) { c.Scheme = newScheme(t, time.Hour) }
	allow := func(c *Checker) { c.Events = map[string]struct{}{"batch.finished": {}} }
	tests := []struct {
		name    string
		mod     func(*Checker)
		req     func() *http.Request
		want    *Rejection
		ignored bool
	}{
		{"valid", nil, func() *http.Request { return signedRequest("POST", ok) }, nil, false},
		{"GET", nil, func() *http.Request { return signedRequest("GET", "") }, ErrMethod, false},
		{"PUT", nil, func() *http.Request { return signedRequest("PUT", ok) }, ErrMethod, false},
		{"too large by length", nil, func() *http.Request { return signedRequest("POST", strings.Repeat(" ", 2000)+ok) }, ErrTooLarge, false},
		{"too large chunked", nil, func() *http.Request {
			r := signedRequest("POST", strings.Repeat(" ", 2000)+ok)
			r.ContentLength = -1
			return r
		}, ErrTooLarge, false},
		{"exactly max_body chunked", nil, func() *http.Request {
			r := signedRequest("POST", strings.Repeat(" ", 1024-len(ok))+ok)
			r.ContentLength = -1
			return r
		}, nil, false},
		{"body read error", nil, func() *http.Request {
			r := signedRequest("POST", ok)
			r.Body = io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))
			return r
		}, ErrBodyRead, false},
		{"no signature", nil, func() *http.Request {
			r := signedRequest("POST", ok)
			r.Header.Del("X-ScreenshotCenter-Signature")
			return r
		}, ErrSigMissing, false},
		{"alternative header", nil, func() *http.Request {
			r := signedRequest("POST", ok)
			r.Header.Set("X-Signature", r.Header.Get("X-ScreenshotCenter-Signature"))
			r.Header.Del("X-ScreenshotCenter-Signature")
			return r
		}, nil, false},
		{"malformed signature", nil, func() *http.Request {
			return signedRequest("POST", ok, "X-ScreenshotCenter-Signature", "sha256=xyz")
		}, ErrSigMalformed, false},
		{"wrong signature", nil, func() *http.Request {
			return signedRequest("POST", ok, "X-ScreenshotCenter-Signature", verifier.Sign([]byte("other"), []byte(ok)))
		}, ErrSigMismatch, false},
		// Invalid JSON is still checked for a signature first.
		{"unsigned garbage", nil, func() *http.Request {
			return signedRequest("POST", "not json", "X-ScreenshotCenter-Signature", "sha256="+strings.Repeat("0", 64))
		}, ErrSigMismatch, false},
		{"signed garbage", nil, func() *http.Request { return signedRequest("POST", "not json") }, scheme.BodyRefusal(webhook.ErrInvalidJSON), false},
		{"signed invalid UTF-8", nil, func() *http.Request { return signedRequest("POST", "{\"event\":\"e\",\"x\":\"\xff\"}") }, scheme.BodyRefusal(webhook.ErrInvalidUTF8), false},
		{"signed repeated key", nil, func() *http.Request { return signedRequest("POST", `{"event":"e","m":{"a":1,"a":2}}`) }, scheme.BodyRefusal(webhook.ErrDuplicateKey), false},
		{"duplicate event key", nil, func() *http.Request {
			return signedRequest("POST", `{"event":"a","event":"b"}`)
		}, scheme.BodyRefusal(webhook.ErrDuplicateKey), false},
		{"event header matches", nil, func() *http.Request {
			return signedRequest("POST", ok, "X-ScreenshotCenter-Event", "screenshot.finished")
		}, nil, false},
		{"event header differs", nil, func() *http.Request {
			return signedRequest("POST", ok, "X-ScreenshotCenter-Event", "screenshot.failed")
		}, ErrEventHeader, false},
		{"max_age fresh", withAge, func() *http.Request { return signedRequest("POST", ok) }, nil, false},
		{"max_age missing", withAge, func() *http.Request {
			return signedRequest("POST", `{"event":"screenshot.finished"}`)
		}, ErrCreatedAtMissing, false},
		{"max_age invalid", withAge, func() *http.Request {
			return signedRequest("POST", `{"event":"e","created_at":"yesterday"}`)
		}, ErrCreatedAtInvalid, false},
		{"max_age too old", withAge, func() *http.Request {
			return signedRequest("POST", `{"event":"e","created_at":"2026-11-27T10:59:59Z"}`)
		}, ErrCreatedAtTooOld, false},
		{"max_age in future", withAge, func() *http.Request {
			return signedRequest("POST", `{"event":"e","created_at":"2026-11-27T12:05:01Z"}`)
		}, ErrCreatedAtInFuture, false},
		{"max_age slightly in future", withAge, func() *http.Request {
			return signedRequest("POST", `{"event":"e","created_at":"2026-11-27T12:04:59Z"}`)
		}, nil, false},
		{"not in allowlist", allow, func() *http.Request { return signedRequest("POST", ok) }, nil, true},
		{"in allowlist", allow, func() *http.Request {
			return signedRequest("POST", `{"event":"batch.finished","batch_id":"b"}`)
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(t, tt.mod)
			req := tt.req()
			raw, _ := io.ReadAll(req.Body)
			req = tt.req() // fresh body for Check
			ev, rej := c.Check(req, Source{}, now)
			if rej != tt.want {
				t.Fatalf("rejection = %v, want %v", rej, tt.want)
			}
			if rej != nil {
				return
			}
			if !bytes.Equal(ev.Body, raw) {
				t.Fatalf("body changed: %q", ev.Body)
			}
			if ev.Ignored != tt.ignored {
				t.Fatalf("ignored = %v, want %v", ev.Ignored, tt.ignored)
			}
		})
	}
}

// A body is charged to its client (Source.ClientIP, else the remote
// address): past its share that client's next body is refused, another
// client's is not.
// ReadUnsigned refuses what Check refuses after the signature, with the
// same refusals, and reads what it reads.
func TestReadUnsigned(t *testing.T) {
	sc := newScheme(t, 0)
	now := time.Now()
	for _, tc := range []struct {
		name, body, header string
		want               *Rejection
	}{
		{"event", `{"event":"screenshot.finished","screenshot_id":"1"}`, "", nil},
		{"event header that agrees", `{"event":"screenshot.finished"}`, "screenshot.finished", nil},
		{"event header that differs", `{"event":"screenshot.finished"}`, "batch.finished", ErrEventHeader},
		{"no event", `{"screenshot_id":"1"}`, "", scheme.BodyRefusal(webhook.ErrMissingEvent)},
		{"not JSON", `{"event":`, "", scheme.BodyRefusal(webhook.ErrInvalidJSON)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set(webhook.HeaderEvent, tc.header)
			}
			ev, rf := ReadUnsigned(sc, h, []byte(tc.body), now)
			if rf != tc.want {
				t.Fatalf("ReadUnsigned = %v, want %v", rf, tc.want)
			}
			if len(h) > 1 || (tc.header == "" && len(h) != 0) {
				t.Errorf("ReadUnsigned changed the caller's headers: %v", h)
			}
			// Check, once signed, decides the same.
			r := signedRequest(http.MethodPost, tc.body)
			if tc.header != "" {
				r.Header.Set(webhook.HeaderEvent, tc.header)
			}
			got, crf := newChecker(t, nil).Check(r, Source{}, now)
			if crf != rf || string(got.Signed.Type) != string(ev.Type) {
				t.Errorf("Check = %q %v, ReadUnsigned = %q %v", got.Signed.Type, crf, ev.Type, rf)
			}
		})
	}
}

func TestCheckChargesTheClient(t *testing.T) {
	var budget webhook.Budget
	budget.SetLimits(1<<20, 1<<10)
	c := newChecker(t, func(c *Checker) { c.Budget = &budget })
	body := `{"event":"screenshot.finished","screenshot_id":"` + strings.Repeat("x", 600) + `"}`
	from := func(remote, clientIP string) *Rejection {
		r := signedRequest(http.MethodPost, body)
		r.RemoteAddr = remote
		ev, rej := c.Check(r, Source{ClientIP: clientIP}, time.Now())
		if rej == nil {
			t.Cleanup(func() { c.Release(ev) })
		}
		return rej
	}
	if rej := from("192.0.2.1:1000", ""); rej != nil {
		t.Fatal(rej)
	}
	if rej := from("192.0.2.1:2000", ""); rej != ErrClientBufferFull {
		t.Fatalf("a second body of the client while the first is held: %v, want ErrClientBufferFull", rej)
	}
	if rej := from("192.0.2.1:3000", "198.51.100.7"); rej != nil {
		t.Fatalf("another client (behind a trusted proxy at the same address): %v", rej)
	}
	if rej := from("192.0.2.9:1000", ""); rej != nil {
		t.Fatalf("another client: %v", rej)
	}
}
