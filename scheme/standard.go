package scheme

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/verifier"
)

// Standard is the name of the Standard Webhooks scheme
// (standardwebhooks.com; Svix's, and so Clerk's and others', with svix-
// header names): webhook-signature holds a space-separated list of
// "v1,<base64 HMAC-SHA256>" and "v1a,<base64 Ed25519>" signatures of
// "<webhook-id>.<webhook-timestamp>.<body>"; the event type is the body's
// "type", the event's identity its webhook-id.
const Standard = "standard"

func init() { Register(Standard, standardFields, newStandard) }

// The secret formats of Standard Webhooks: a shared secret, an Ed25519
// public key (verifies v1a) and private key (verifies and signs v1a), each
// base64 after its prefix.
const (
	standardSecretPrefix  = "whsec_"
	standardPublicPrefix  = "whpk_"
	standardPrivatePrefix = "whsk_"
)

// The sizes the specification gives a shared secret: 24 to 64 bytes.
const (
	standardMinSecret = 24
	standardMaxSecret = 64
)

// The signed fields of a Standard Webhooks event.
const (
	fieldWebhookID        = "webhook_id"
	fieldWebhookTimestamp = "webhook_timestamp"
)

var standardFields = []string{fieldType, fieldWebhookID, fieldWebhookTimestamp}

// Standard Webhooks' own refusals.
var (
	ErrWebhookIDInvalid     = refusal.New(http.StatusUnauthorized, "webhook_id_invalid", "webhook-id is missing, empty, repeated or has a '.'")
	ErrStandardHeadersClash = refusal.New(http.StatusUnauthorized, "signature_headers_conflict", "webhook- and svix- headers are both present and differ")
)

// standardNames are the three headers of one family (webhook- or svix-),
// canonical.
type standardNames struct{ id, timestamp, signature string }

var (
	webhookNames = standardNames{
		textproto.CanonicalMIMEHeaderKey("webhook-id"),
		textproto.CanonicalMIMEHeaderKey("webhook-timestamp"),
		textproto.CanonicalMIMEHeaderKey("webhook-signature"),
	}
	svixNames = standardNames{
		textproto.CanonicalMIMEHeaderKey("svix-id"),
		textproto.CanonicalMIMEHeaderKey("svix-timestamp"),
		textproto.CanonicalMIMEHeaderKey("svix-signature"),
	}
)

// standardKey is one configured secret: a shared secret (in the scheme's
// macs), or an Ed25519 public key with or without its private key.
type standardKey struct {
	shared bool
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
}

type standard struct {
	keys   []standardKey
	macs   *hmacKeys // by secret index; used for the shared secrets only
	maxAge time.Duration
}

var errStandardSecret = errors.New("is not a Standard Webhooks secret: whsec_ and the base64 of 24 to 64 bytes, or an Ed25519 key: whpk_ and the base64 of a 32-byte public key, whsk_ and the base64 of a 32-byte seed or 64-byte private key")

func newStandard(c Config) (Scheme, error) {
	if len(c.SignatureHeaders) > 0 {
		return nil, errors.New("scheme standard: signature_header does not apply (the scheme reads webhook-signature or svix-signature)")
	}
	s := &standard{keys: make([]standardKey, len(c.Secrets)), maxAge: replayWindow(c.MaxAge)}
	shared := make([][]byte, len(c.Secrets))
	for i, secret := range c.Secrets {
		k, key, err := parseStandardSecret(string(secret))
		if err != nil {
			return nil, SecretError(i, err)
		}
		s.keys[i], shared[i] = k, key
	}
	s.macs = newHMACKeys(shared)
	return s, nil
}

// parseStandardSecret reads one secret; key is the decoded shared secret.
func parseStandardSecret(secret string) (k standardKey, key []byte, _ error) {
	prefix, b64, _ := strings.Cut(secret, "_")
	raw, err := strictBase64.DecodeString(b64)
	if err != nil {
		return k, nil, errStandardSecret
	}
	switch prefix + "_" {
	case standardSecretPrefix:
		if len(raw) < standardMinSecret || len(raw) > standardMaxSecret {
			return k, nil, errStandardSecret
		}
		return standardKey{shared: true}, raw, nil
	case standardPublicPrefix:
		if len(raw) != ed25519.PublicKeySize {
			return k, nil, errStandardSecret
		}
		return standardKey{pub: raw}, nil, nil
	case standardPrivatePrefix:
		priv, err := ed25519Private(raw)
		if err != nil {
			return k, nil, err
		}
		return standardKey{pub: priv.Public().(ed25519.PublicKey), priv: priv}, nil, nil
	}
	return k, nil, errStandardSecret
}

// ed25519Private reads a 32-byte seed or a 64-byte private key (the seed
// and its public key, as Go and libsodium write it).
func ed25519Private(raw []byte) (ed25519.PrivateKey, error) {
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(priv, raw) {
			return nil, errors.New("is an Ed25519 private key whose public half is not its seed's")
		}
		return priv, nil
	}
	return nil, errors.New("is not an Ed25519 private key: a 32-byte seed or a 64-byte private key")
}

// standardHeaders returns the signed headers of r: the webhook- ones, or
// the svix- ones when it has no webhook-signature. A request with both
// signature headers must have the same three values in both families, so
// that an application reading either family (Svix's libraries read svix-
// first, the Standard Webhooks ones only webhook-) reads what was checked.
func standardHeaders(h http.Header) (id, ts string, t time.Time, sig string, rf *refusal.Refusal) {
	names := webhookNames
	w, sv := h[webhookNames.signature], h[svixNames.signature]
	switch {
	case len(w) == 0 && len(sv) == 0:
		return "", "", t, "", ErrSigMissing
	case len(w) == 0:
		names = svixNames
	case len(sv) > 0:
		if !slices.Equal(w, sv) || !slices.Equal(h[webhookNames.id], h[svixNames.id]) ||
			!slices.Equal(h[webhookNames.timestamp], h[svixNames.timestamp]) {
			return "", "", t, "", ErrStandardHeadersClash
		}
	}
	sigs := h[names.signature]
	if len(sigs) != 1 {
		return "", "", t, "", ErrSigMalformed
	}
	ids := h[names.id]
	if len(ids) != 1 || ids[0] == "" || strings.IndexByte(ids[0], '.') >= 0 {
		return "", "", t, "", ErrWebhookIDInvalid
	}
	ts, t, rf = timestampHeader(h[names.timestamp])
	return ids[0], ts, t, sigs[0], rf
}

// standardSignatures are the well-formed signatures of a webhook-signature
// value, decoded.
type standardSignatures struct {
	v1  [verifier.MaxSignatureValues][sha256.Size]byte
	v1a [verifier.MaxSignatureValues][ed25519.SignatureSize]byte
	n1  int
	na  int
}

// parse reads the space-separated list: "v1,<base64>" and "v1a,<base64>"
// entries; other versions are passed over (the list may carry newer
// ones). More than verifier.MaxSignatureValues entries, or none of a known
// version that is well formed, is malformed.
func (ss *standardSignatures) parse(v string) *refusal.Refusal {
	entries := 0
	for v != "" {
		var entry string
		entry, v, _ = strings.Cut(v, " ")
		if entry == "" {
			continue
		}
		if entries++; entries > verifier.MaxSignatureValues {
			return ErrSigMalformed
		}
		version, sig, _ := strings.Cut(entry, ",")
		switch version {
		case "v1":
			if decodeBase64(ss.v1[ss.n1][:], sig) {
				ss.n1++
			}
		case "v1a":
			if decodeBase64(ss.v1a[ss.na][:], sig) {
				ss.na++
			}
		}
	}
	if ss.n1+ss.na == 0 {
		return ErrSigMalformed
	}
	return nil
}

// strictBase64 is standard base64 with padding, and only one text for
// each value.
var strictBase64 = base64.StdEncoding.Strict()

// decodeBase64 decodes src into all of dst, which is at most 64 bytes.
func decodeBase64(dst []byte, src string) bool {
	if len(src) != base64.StdEncoding.EncodedLen(len(dst)) {
		return false
	}
	var in [88]byte
	var out [66]byte
	n, err := strictBase64.Decode(out[:], in[:copy(in[:], src)])
	if err != nil || n != len(dst) {
		return false
	}
	copy(dst, out[:n])
	return true
}

// Verify checks the signatures of "<id>.<timestamp>.<body>" against each
// secret in order (a shared secret against the v1 ones, a key against the
// v1a ones), then the replay window on the signed timestamp.
func (s *standard) Verify(r Request) (int, *refusal.Refusal) {
	id, ts, t, sig, rf := standardHeaders(r.Header)
	if rf != nil {
		return -1, rf
	}
	var ss standardSignatures
	if rf := ss.parse(sig); rf != nil {
		return -1, rf
	}
	idx := s.match(&ss, id, ts, r.Body)
	if idx < 0 {
		return -1, ErrSigMismatch
	}
	if rf := CheckWindow(t, s.maxAge, r.Now); rf != nil {
		return -1, rf
	}
	return idx, nil
}

func (s *standard) match(ss *standardSignatures, id, ts string, body []byte) int {
	var msg *[]byte
	defer func() {
		if msg != nil {
			release(msg)
		}
	}()
	for i, k := range s.keys {
		if k.shared {
			if ss.n1 == 0 {
				continue
			}
			var sum [sha256.Size]byte
			s.macs.sumAfter(i, &sum, body, id, ".", ts, ".")
			for j := range ss.n1 {
				if hmac.Equal(sum[:], ss.v1[j][:]) {
					return i
				}
			}
			continue
		}
		if ss.na == 0 {
			continue
		}
		if msg == nil {
			msg = message(body, id, ".", ts, ".")
		}
		for j := range ss.na {
			if ed25519.Verify(k.pub, *msg, ss.v1a[j][:]) {
				return i
			}
		}
	}
	return -1
}

// Read reads the body's "type" (a strict JSON object, as every body the
// gateway reads) and the signed headers.
func (s *standard) Read(r Request) (ev Event, _ *refusal.Refusal) {
	id, ts, t, _, rf := standardHeaders(r.Header)
	if rf != nil {
		return ev, rf
	}
	members := [...]jsonMember{{name: fieldType}}
	if rf := readJSON(r.Body, members[:]); rf != nil {
		return ev, rf
	}
	typ, rf := eventType(members[0], false)
	if rf != nil {
		return ev, rf
	}
	ev.Type, ev.Timestamp = typ, t
	ev.Set(fieldType, typ, false)
	ev.Set(fieldWebhookID, []byte(id), false)
	ev.Set(fieldWebhookTimestamp, []byte(ts), false)
	return ev, nil
}

// Identity is the webhook-id: the specification's idempotency key, the
// same on every retry of one message.
func (s *standard) Identity(ev Event) (Field, bool) {
	f, ok := ev.Field(fieldWebhookID)
	return f, ok && len(f.Value) > 0
}

// Sign signs body with secret i as "v1,<base64>" (a shared secret) or
// "v1a,<base64>" (a private key), keeping the id and timestamp the headers
// carry (a new msg_ id and now when they have none), in each family of
// headers present (webhook- when none is). A public key cannot sign: the
// signature headers are removed.
func (s *standard) Sign(h http.Header, i int, body []byte, now time.Time) {
	families := make([]standardNames, 0, 2)
	for _, names := range [...]standardNames{webhookNames, svixNames} {
		if len(h[names.signature]) > 0 || len(h[names.id]) > 0 {
			families = append(families, names)
		}
	}
	if len(families) == 0 {
		families = append(families, webhookNames)
	}
	id, ts := "", ""
	for _, names := range families {
		if v := h[names.id]; id == "" && len(v) > 0 && v[0] != "" && strings.IndexByte(v[0], '.') < 0 {
			id = v[0]
		}
		if v, _, rf := timestampHeader(h[names.timestamp]); ts == "" && rf == nil {
			ts = v
		}
	}
	if id == "" {
		id = newMessageID()
	}
	if ts == "" {
		ts = strconv.FormatInt(now.Unix(), 10)
	}
	var sig string
	switch k := s.keys[i]; {
	case k.shared:
		var sum [sha256.Size]byte
		s.macs.sumAfter(i, &sum, body, id, ".", ts, ".")
		sig = "v1," + base64.StdEncoding.EncodeToString(sum[:])
	case k.priv != nil:
		sig = "v1a," + base64.StdEncoding.EncodeToString(signEd25519(k.priv, body, id, ".", ts, "."))
	}
	for _, names := range families {
		h[names.id] = []string{id}
		h[names.timestamp] = []string{ts}
		if sig == "" {
			delete(h, names.signature)
		} else {
			h[names.signature] = []string{sig}
		}
	}
}

// newMessageID is a new random message id, as Svix writes them.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// CanSign is false for a whpk_ public key.
func (s *standard) CanSign(i int) bool { return s.keys[i].shared || s.keys[i].priv != nil }

func (s *standard) SignatureHeaders() []string {
	return []string{webhookNames.signature, svixNames.signature}
}

func (s *standard) FieldNames() []string { return standardFields }
