package scheme

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/verifier"
)

// GitHub is the name of GitHub's scheme: X-Hub-Signature-256:
// sha256=<hex HMAC-SHA256 of the raw body>, the event type in
// X-GitHub-Event, which the signature does not cover. GitHub signs no
// time and no id (X-GitHub-Delivery is not signed either), and a
// redelivery resends the identical body: the default key is the body's
// SHA-256. The body is forwarded as signed and not parsed (a webhook may
// be configured to send application/x-www-form-urlencoded).
const GitHub = "github"

func init() { Register(GitHub, nil, newGitHub) }

// GitHub's headers (canonical).
var (
	gitHubSignature = textproto.CanonicalMIMEHeaderKey("X-Hub-Signature-256")
	gitHubSHA1      = textproto.CanonicalMIMEHeaderKey("X-Hub-Signature")
	gitHubEvent     = textproto.CanonicalMIMEHeaderKey("X-GitHub-Event")
)

type gitHub struct {
	v       *verifier.Verifier
	secrets [][]byte
}

func newGitHub(c Config) (Scheme, error) {
	if err := noTimestamp(GitHub, c); err != nil {
		return nil, err
	}
	if err := CheckSharedSecrets(c.Secrets); err != nil {
		return nil, err
	}
	v, err := verifier.New(c.Secrets)
	if err != nil {
		return nil, err
	}
	return &gitHub{v: v, secrets: c.Secrets}, nil
}

// noTimestamp refuses a max_age for a scheme that signs no time.
func noTimestamp(name string, c Config) error {
	if c.MaxAge != 0 {
		return errors.New("max_age: scheme " + name + " signs no timestamp, so there is no replay window to set (retries are recognised by the body's hash)")
	}
	return nil
}

// Verify checks the sha256= HMAC of the raw body in X-Hub-Signature-256
// (the older X-Hub-Signature, HMAC-SHA1, is ignored).
func (s *gitHub) Verify(r Request) (int, *refusal.Refusal) {
	return verified(s.v.Verify(r.Body, r.Header[gitHubSignature]))
}

// Read takes the event type from X-GitHub-Event: unsigned, so it is kept
// out of the default key, and the allowlist (events) reads a value anyone
// replaying the body could change.
func (s *gitHub) Read(r Request) (ev Event, _ *refusal.Refusal) {
	typ, rf := eventHeader(r.Header, gitHubEvent)
	if rf != nil {
		return ev, rf
	}
	ev.Type, ev.UnsignedType = typ, true
	return ev, nil
}

// Identity: GitHub signs no id.
func (s *gitHub) Identity(Event) (Field, bool) { return Field{}, false }

// Sign sets X-Hub-Signature-256 for body, replacing every line of it, and
// the legacy X-Hub-Signature (sha1=, which GitHub still sends) when the
// request carries it, so that no stale signature travels with the body.
func (s *gitHub) Sign(h http.Header, i int, body []byte, _ time.Time) {
	h[gitHubSignature] = []string{s.v.Sign(i, body)}
	if len(h[gitHubSHA1]) > 0 {
		m := hmac.New(sha1.New, s.secrets[i])
		m.Write(body)
		h[gitHubSHA1] = []string{"sha1=" + hex.EncodeToString(m.Sum(nil))}
	}
}

func (s *gitHub) SignatureHeaders() []string { return []string{gitHubSignature, gitHubSHA1} }

func (s *gitHub) FieldNames() []string { return nil }

// EventHeader is the unsigned header that names the event type.
func (s *gitHub) EventHeader() string { return gitHubEvent }
