package scheme

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/scgate/scgate/refusal"
)

// Stripe is the name of Stripe's scheme: Stripe-Signature: t=<unix
// seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…] (v0 and other schemes
// ignored), with the endpoint's whsec_… secret used as written, not
// decoded. The signed t is checked against max_age (default 5 minutes,
// Stripe's own tolerance); Stripe signs each retry anew. The event's type
// and id come from the signed JSON body; the default key is its id.
const Stripe = "stripe"

func init() { Register(Stripe, stripeFields, newStripe) }

// The signed fields of a Stripe event.
const (
	fieldStripeID   = "id"
	fieldStripeType = "type"
)

var stripeFields = []string{fieldStripeID, fieldStripeType}

// stripeSecretPrefix starts every Stripe webhook signing secret.
const stripeSecretPrefix = "whsec_"

var stripeSignature = textproto.CanonicalMIMEHeaderKey("Stripe-Signature")

type stripe struct {
	keys   *hmacKeys
	maxAge time.Duration
}

func newStripe(c Config) (Scheme, error) {
	for i, v := range c.Secrets {
		rest, ok := bytes.CutPrefix(v, []byte(stripeSecretPrefix))
		if !ok {
			return nil, SecretError(i, errors.New("is not a Stripe webhook signing secret: it starts with whsec_ (the endpoint's secret in the Dashboard, or the one `stripe listen` prints), not an API key"))
		}
		if err := CheckSharedSecret(rest); err != nil {
			return nil, SecretError(i, errors.New("after whsec_ "+err.Error()))
		}
	}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	return &stripe{keys: newHMACKeys(c.Secrets), maxAge: maxAge}, nil
}

// stripeHeader is a parsed Stripe-Signature header.
type stripeHeader struct {
	t    time.Time
	sigs [maxStripeSignatures][sha256.Size]byte
	n    int
}

// maxStripeSignatures bounds the v1 values one request may carry, so that
// a hostile header cannot make verification cost unbounded CPU.
const maxStripeSignatures = 8

// parseStripeHeader reads t and the v1 values of a Stripe-Signature line
// the way stripe-go does (comma-separated key=value pairs; a v1 that is
// not hex is skipped, other keys are ignored), but refuses a header with
// a pair that is not key=value, no t or more than one, or no v1.
func parseStripeHeader(lines []string, h *stripeHeader) *refusal.Refusal {
	switch {
	case len(lines) == 0:
		return ErrSigMissing
	case len(lines) > 1:
		return ErrSigMalformed
	}
	seenT := false
	for pair := range strings.SplitSeq(lines[0], ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.Contains(v, "=") {
			return ErrSigMalformed
		}
		switch k {
		case "t":
			t, ok := ParseUnix(v)
			if !ok || seenT {
				return ErrSigMalformed
			}
			h.t, seenT = t, true
		case "v1":
			if len(v) != hex.EncodedLen(sha256.Size) {
				continue
			}
			if h.n == maxStripeSignatures {
				return ErrSigMalformed
			}
			if _, err := hex.Decode(h.sigs[h.n][:], []byte(v)); err != nil {
				continue
			}
			h.n++
		}
	}
	if !seenT || h.n == 0 {
		return ErrSigMalformed
	}
	return nil
}

// Verify checks the v1 HMACs of "t.body", then the replay window on t.
func (s *stripe) Verify(r Request) (int, *refusal.Refusal) {
	var h stripeHeader
	if rf := parseStripeHeader(r.Header[stripeSignature], &h); rf != nil {
		return -1, rf
	}
	// The decimal form of t, as stripe-go signs it (fmt's %d of t.Unix()).
	var ts [20]byte
	idx := s.keys.match(h.sigs[:h.n], strconv.AppendInt(ts[:0], h.t.Unix(), 10), stripeDot, r.Body)
	if idx < 0 {
		return -1, ErrSigMismatch
	}
	if rf := CheckWindow(h.t, s.maxAge, r.Now); rf != nil {
		return -1, rf
	}
	return idx, nil
}

var stripeDot = []byte{'.'}

// Read reads the event's id and type from the strict JSON body, and its
// signed time from the verified header.
func (s *stripe) Read(r Request) (ev Event, _ *refusal.Refusal) {
	var vals [2][]byte
	if rf := readStringFields(r.Body, stripeFields, vals[:]); rf != nil {
		return ev, rf
	}
	id, typ := vals[0], vals[1]
	if len(id) == 0 || len(typ) == 0 {
		return ev, ErrFieldMissing
	}
	var h stripeHeader
	if parseStripeHeader(r.Header[stripeSignature], &h) == nil {
		ev.Timestamp = h.t
	}
	ev.Type = typ
	ev.Set(fieldStripeID, id, false)
	ev.Set(fieldStripeType, typ, false)
	return ev, nil
}

// Identity is the event's id (evt_…): a retry of an event carries the
// same id, signed anew.
func (s *stripe) Identity(ev Event) (Field, bool) {
	f, ok := ev.Field(fieldStripeID)
	return f, ok && len(f.Value) > 0
}

// Sign sets Stripe-Signature for body with secret i: the t of the
// request's verified header when it has one (re-encoding keeps Stripe's
// time), else now.
func (s *stripe) Sign(h http.Header, i int, body []byte, now time.Time) {
	t := now
	var old stripeHeader
	if parseStripeHeader(h[stripeSignature], &old) == nil {
		t = old.t
	}
	var ts [20]byte
	tb := strconv.AppendInt(ts[:0], t.Unix(), 10)
	var mac [sha256.Size]byte
	s.keys.sum(i, &mac, tb, stripeDot, body)
	h[stripeSignature] = []string{"t=" + string(tb) + ",v1=" + hex.EncodeToString(mac[:])}
}

func (s *stripe) SignatureHeaders() []string { return []string{stripeSignature} }

func (s *stripe) FieldNames() []string { return stripeFields }
