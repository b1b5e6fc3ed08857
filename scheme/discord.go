package scheme

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/scgate/scgate/refusal"
)

// Discord is the name of Discord's scheme (interactions and webhook
// events): X-Signature-Ed25519 is the hex Ed25519 signature of
// X-Signature-Timestamp followed by the body, verified with the
// application's public key. The event type is the body's "type" (a
// webhook event's own "event" type), the identity its "id".
const Discord = "discord"

func init() { Register(Discord, discordFields, newDiscord) }

// The signed fields of a Discord event.
const fieldID = "id"

var discordFields = []string{fieldType, fieldID, fieldTimestamp}

var (
	discordSignature = textproto.CanonicalMIMEHeaderKey("X-Signature-Ed25519")
	discordTimestamp = textproto.CanonicalMIMEHeaderKey("X-Signature-Timestamp")
)

// discordKey is one configured key: the application's public key, with
// its private key when one was given (for signing).
type discordKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

type discord struct {
	keys   []discordKey
	maxAge time.Duration
}

var errDiscordKey = errors.New("is not a Discord application key: its public key is 64 hex digits (to sign, give a private key: 128 hex digits, its seed then its public key)")

func newDiscord(c Config) (Scheme, error) {
	if len(c.SignatureHeaders) > 0 {
		return nil, errors.New("scheme discord: signature_header does not apply (the scheme reads X-Signature-Ed25519)")
	}
	s := &discord{keys: make([]discordKey, len(c.Secrets)), maxAge: replayWindow(c.MaxAge)}
	for i, secret := range c.Secrets {
		raw, err := hex.DecodeString(string(secret))
		if err != nil {
			return nil, SecretError(i, errDiscordKey)
		}
		switch len(raw) {
		case ed25519.PublicKeySize:
			s.keys[i].pub = raw
		case ed25519.PrivateKeySize:
			priv, err := ed25519Private(raw)
			if err != nil {
				return nil, SecretError(i, err)
			}
			s.keys[i] = discordKey{pub: priv.Public().(ed25519.PublicKey), priv: priv}
		default:
			return nil, SecretError(i, errDiscordKey)
		}
	}
	return s, nil
}

// Verify checks the one signature against each key in order, then the
// replay window on the signed timestamp (Discord sets none; its libraries
// check none, and this one closes the replay of a captured request).
func (s *discord) Verify(r Request) (int, *refusal.Refusal) {
	var sig [ed25519.SignatureSize]byte
	if rf := hexSignature(r.Header[discordSignature], "", sig[:]); rf != nil {
		return -1, rf
	}
	ts, t, rf := timestampHeader(r.Header[discordTimestamp])
	if rf != nil {
		return -1, rf
	}
	msg := message(r.Body, ts)
	defer release(msg)
	for i, k := range s.keys {
		if ed25519.Verify(k.pub, *msg, sig[:]) {
			if rf := CheckWindow(t, s.maxAge, r.Now); rf != nil {
				return -1, rf
			}
			return i, nil
		}
	}
	return -1, ErrSigMismatch
}

// Read reads the body (a strict JSON object): the event type is a webhook
// event's "event" "type" (APPLICATION_AUTHORIZED, ENTITLEMENT_CREATE, ...)
// when the body has an "event", else the body's "type" as written (an
// interaction's number: 1 PING, 2 APPLICATION_COMMAND, 3
// MESSAGE_COMPONENT, 4 APPLICATION_COMMAND_AUTOCOMPLETE, 5 MODAL_SUBMIT).
func (s *discord) Read(r Request) (ev Event, _ *refusal.Refusal) {
	ts, t, rf := timestampHeader(r.Header[discordTimestamp])
	if rf != nil {
		return ev, rf
	}
	members := [...]jsonMember{{name: fieldType}, {name: fieldID}, {name: "event"}, {parent: "event", name: fieldType}}
	if rf := readJSON(r.Body, members[:]); rf != nil {
		return ev, rf
	}
	typeMember := members[0]
	if members[2].kind != jsonAbsent {
		typeMember = members[3]
	}
	typ, rf := eventType(typeMember, true)
	if rf != nil {
		return ev, rf
	}
	ev.Type, ev.Timestamp = typ, t
	ev.Set(fieldType, typ, false)
	if id := members[1]; id.kind == jsonString || id.kind == jsonNumber {
		ev.Set(fieldID, id.value, id.kind == jsonNumber)
	}
	ev.Set(fieldTimestamp, []byte(ts), false)
	return ev, nil
}

// Identity is the body's id (an interaction's snowflake); a webhook event
// has none and is keyed by its body's hash.
func (s *discord) Identity(ev Event) (Field, bool) {
	f, ok := ev.Field(fieldID)
	return f, ok && len(f.Value) > 0
}

// Sign signs body with secret i when it is a private key, keeping the
// timestamp the headers carry (now when they have none). A public key
// cannot sign: the signature header is removed.
func (s *discord) Sign(h http.Header, i int, body []byte, now time.Time) {
	k := s.keys[i]
	if k.priv == nil {
		delete(h, discordSignature)
		return
	}
	ts, _, rf := timestampHeader(h[discordTimestamp])
	if rf != nil {
		ts = strconv.FormatInt(now.Unix(), 10)
	}
	h[discordTimestamp] = []string{ts}
	h[discordSignature] = []string{hex.EncodeToString(signEd25519(k.priv, body, ts))}
}

// CanSign is true only for a private key.
func (s *discord) CanSign(i int) bool { return s.keys[i].priv != nil }

func (s *discord) SignatureHeaders() []string { return []string{discordSignature} }

func (s *discord) FieldNames() []string { return discordFields }
