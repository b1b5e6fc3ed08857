// Package scheme is how one provider signs its webhooks: what the gateway
// verifies, where a verified request's event type, identity and signed
// timestamp come from, which signed fields a key template may read, and
// how to sign a body again. Everything after a scheme (dedupe, the flow,
// the answers, metrics, placeholders) reads only what it returns, so a new
// provider is a new Scheme, nothing else. ScreenshotCenter is the first.
package scheme

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/verifier"
)

// Request is what a scheme reads of a request: its headers and exact raw
// body, and the time it is checked at.
type Request struct {
	Header http.Header
	Body   []byte
	Now    time.Time
}

// Scheme verifies and reads one provider's signed webhooks. It is safe
// for concurrent use. Requests and events are passed by value: through an
// interface a pointer would make them escape to the heap, on every
// request.
type Scheme interface {
	// Verify reports which secret (its index in Config.Secrets) signed
	// the request, before anything parses the body. A scheme with a
	// signed timestamp also checks its replay window here.
	Verify(r Request) (int, *refusal.Refusal)
	// Read reads a verified request into an Event, refusing a body or
	// headers of the wrong shape for the scheme (a 4xx, never a
	// forward).
	Read(r Request) (Event, *refusal.Refusal)
	// Identity returns the signed field that names the event (its id),
	// from which with the event type the default dedupe key is made; ok
	// false when the event has none, and the key falls back to the body's
	// hash. Different events of one type must have different identities.
	Identity(ev Event) (id Field, ok bool)
	// Sign sets on h the headers that sign body with secret index i as
	// the provider would (used when the gateway re-encodes a body).
	Sign(h http.Header, i int, body []byte, now time.Time)
	// SignatureHeaders are the headers that carry the signature: a
	// re-signed request has every line of each replaced.
	SignatureHeaders() []string
	// FieldNames lists the signed fields a key template may read, and
	// that the placeholders show.
	FieldNames() []string
}

// PublicKeys is implemented by a scheme whose secrets may be public keys
// (Ed25519: Discord's, Standard Webhooks' whpk_), which verify a signature
// but cannot make one. Sign with such a secret removes the scheme's
// signature headers: a signature never travels next to a body it does not
// sign. A scheme that does not implement it signs with every secret.
type PublicKeys interface {
	// CanSign reports whether secret i (its index in Config.Secrets) can
	// sign: a shared secret or a private key.
	CanSign(i int) bool
}

// CanSign reports whether s can sign with secret i, which a re-signed body
// (reencode) and a sender need.
func CanSign(s Scheme, i int) bool {
	if k, ok := s.(PublicKeys); ok {
		return k.CanSign(i)
	}
	return true
}

// errPublicKey reads after the name of a secret that cannot sign.
var errPublicKey = errors.New("is a public key, which cannot sign: where scgate signs (reencode, the sender) give the private key or a shared secret")

// CheckCanSign refuses a scheme built with n secrets when one of them
// cannot sign (a public key), naming the first such secret by its index
// (a SecretFormatError): whatever signs with those secrets (reencode, with
// the one that matched; a sender, with its one) would otherwise send a
// body with no signature.
func CheckCanSign(s Scheme, n int) error {
	for i := range n {
		if !CanSign(s, i) {
			return SecretError(i, errPublicKey)
		}
	}
	return nil
}

// Config is what every scheme is built from. The factory checks it: a
// secret of the wrong format for the scheme, or an option the scheme does
// not take, is an error naming the secret's index (never its value).
type Config struct {
	// Secrets verify the requests, in order; the first that matches is
	// reported. At least one. They are the values as the config resolved
	// them: each scheme decodes them (Standard Webhooks' whsec_ base64, a
	// hex public key) and checks them (CheckSharedSecrets for a shared
	// HMAC secret used as written).
	Secrets [][]byte
	// SignatureHeaders, if set, replaces the scheme's own signature
	// header names (ScreenshotCenter's signature_header option).
	SignatureHeaders []string
	// MaxAge is the replay window on the signed timestamp: 0 means the
	// scheme's default (DefaultMaxAge for a scheme that signs a timestamp
	// in a header; none for ScreenshotCenter, whose created_at is
	// optional). A scheme that signs no timestamp refuses it.
	MaxAge time.Duration
}

// DefaultMaxAge is the replay window of the schemes that sign a timestamp
// (Stripe, Standard Webhooks, Slack, Discord) when max_age is not set: what
// Stripe's and the Standard Webhooks' libraries use.
const DefaultMaxAge = 5 * time.Minute

// MinSecretLength is the length, in bytes, below which a shared secret is
// refused (verifier.MinSecretLength: the verifier applies the same rule).
const MinSecretLength = verifier.MinSecretLength

// CheckSharedSecret refuses a shared HMAC secret that is empty, only
// whitespace, or shorter than MinSecretLength bytes (verifier.CheckSecret,
// the one rule). Its errors say why, never the value or its length, and
// read after the name of the secret ("secret 0 is shorter than…").
func CheckSharedSecret(v []byte) error { return verifier.CheckSecret(v) }

// CheckSharedSecrets applies CheckSharedSecret to every secret, naming the
// first one refused by its index.
func CheckSharedSecrets(secrets [][]byte) error {
	for i, v := range secrets {
		if err := CheckSharedSecret(v); err != nil {
			return SecretError(i, err)
		}
	}
	return nil
}

// SecretError names secret i in err ("secret 1 is not…"); err must not
// quote the value.
func SecretError(i int, err error) error { return &SecretFormatError{Index: i, Err: err} }

// SecretFormatError is a secret refused by its scheme (or by the config's
// resolution of it), named by its index: a tool that takes one secret from
// a flag names the flag instead ("--secret is shorter than…").
type SecretFormatError struct {
	Index int
	// Err reads after the secret's name ("is shorter than 16 bytes…").
	Err error
}

func (e *SecretFormatError) Error() string { return fmt.Sprintf("secret %d %v", e.Index, e.Err) }

func (e *SecretFormatError) Unwrap() error { return e.Err }

// EventHeaderer is implemented by a scheme whose event type is an
// unsigned header (GitHub's X-GitHub-Event, Shopify's X-Shopify-Topic),
// which a sender sets next to the signature.
type EventHeaderer interface {
	EventHeader() string
}

// Factory builds a scheme from its config.
type Factory func(Config) (Scheme, error)

type registration struct {
	factory Factory
	fields  []string
}

var factories = map[string]registration{}

// Register makes a scheme available under name, with the names of the
// signed fields its events carry (what FieldNames returns); call it from
// an init.
func Register(name string, fields []string, f Factory) {
	if _, dup := factories[name]; dup {
		panic("scheme: " + name + " registered twice")
	}
	factories[name] = registration{f, fields}
}

// FieldNames returns the signed fields of the scheme named name (nil for
// an unknown scheme), for checking a key template before the secrets are
// known.
func FieldNames(name string) []string { return factories[name].fields }

// Names lists the registered schemes, sorted.
func Names() []string {
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the scheme named name.
func New(name string, c Config) (Scheme, error) {
	reg, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown scheme %q: use one of %s", name, strings.Join(Names(), ", "))
	}
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("scheme %s: at least one secret is required", name)
	}
	return reg.factory(c)
}

// maxFields bounds the signed fields an event carries, so that an Event
// is a value with no allocation of its own.
const maxFields = 8

// Field is one signed value of an event: its name, its bytes as the body
// holds them (a string's content unescaped only where it had no escape),
// and whether it is a JSON number (written as is, not quoted, in keys).
type Field struct {
	Name   string
	Value  []byte
	Number bool
}

// Event is what a scheme read from a verified request.
type Event struct {
	// Type is the event type ("screenshot.finished").
	Type []byte
	// Timestamp is the signed time of the event; zero when the request
	// has none.
	Timestamp time.Time
	// UnsignedType is set when Type comes from a header the signature does
	// not cover (GitHub's X-GitHub-Event, Shopify's X-Shopify-Topic): the
	// default dedupe key then leaves it out, so that a captured event
	// replayed under another type is still a duplicate. The events
	// allowlist still reads it: the README says so for each such scheme.
	UnsignedType bool
	fields       [maxFields]Field
	n            int
}

// Set records the signed field name with its value (nil: absent).
func (e *Event) Set(name string, value []byte, number bool) {
	for i := range e.n {
		if e.fields[i].Name == name {
			e.fields[i] = Field{name, value, number}
			return
		}
	}
	if e.n == maxFields {
		panic("scheme: more than maxFields fields")
	}
	e.fields[e.n] = Field{name, value, number}
	e.n++
}

// Field returns the signed field name; ok is false when the event does not
// have it.
func (e *Event) Field(name string) (f Field, ok bool) {
	for i := range e.n {
		if e.fields[i].Name == name {
			return e.fields[i], e.fields[i].Value != nil
		}
	}
	return Field{}, false
}

// Fields returns the event's fields, in the order they were set.
func (e *Event) Fields() []Field { return slices.Clone(e.fields[:e.n]) }
