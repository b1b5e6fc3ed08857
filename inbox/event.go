package inbox

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/scgate/scgate/sender"
)

// Event is what the receiver queues: a verified request, as it came.
type Event struct {
	// Body is the exact body, forwarded byte for byte.
	Body []byte
	// Header is the original request's header, signature included. The
	// hop-by-hop headers, those the Connection header names, the
	// framing (Content-Length, Expect) and every X-Scgate- header are
	// not kept; the rest is kept byte for byte and forwarded.
	Header http.Header
	// DedupeKey is sent as X-Scgate-Dedupe-Key, as the receiver sends it
	// in pass-through mode (already made header-safe); "" sends none.
	DedupeKey string
	// Reencoded, when the receiver re-encoded the body (reencode), names
	// the style, sent as X-Scgate-Reencoded; Body and Header are then the
	// re-encoding and its new signature. "" sends none.
	Reencoded string
	// OrderKey, if set, delivers the events of one key one at a time in
	// the order they were queued; a failing one holds back only its key.
	OrderKey string
	// Type is the event type, for logs and lists.
	Type string
}

// hopHeaders are never forwarded: the hop-by-hop headers that Caddy's
// reverse_proxy removes (RFC 9110 section 7.6.1), and the framing of the
// request that reached the gateway: Content-Length is the body's, set
// again by each attempt, and Expect was answered by the gateway.
var hopHeaders = []string{
	"Alt-Svc", "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Expect",
}

// gatewayPrefix starts the headers only the gateway sets.
const gatewayPrefix = "X-Scgate-"

// Enqueue writes ev to the inbox file and returns its delivery id once it
// is on disk (fsync'd; concurrent enqueues are committed together, one
// fsync for the group). On any error (a full disk, a closed or unwritable
// file, a header that cannot be sent) nothing is queued and no id is
// returned: the caller must not acknowledge the event.
func (in *Inbox) Enqueue(ev Event) (string, error) {
	h, err := Prepare(ev)
	if err != nil {
		return "", err
	}
	d, err := sender.NewPending(*in.dest.Load(), ev.Body, in.now())
	if err != nil {
		return "", err
	}
	d.Event, d.Headers, d.OrderKey, d.KeepNumbering = ev.Type, h, ev.OrderKey, true
	if err := in.s.Enqueue(d); err != nil {
		return "", err
	}
	return d.ID, nil
}

// Prepare returns the headers ev is stored and forwarded with: the
// original request's without the hop-by-hop and X-Scgate- ones, plus its
// dedupe key and re-encoding style; ErrInvalidHeader when one could not be sent. Every engine
// stores what it returns (the bbolt inbox and inbox/jetstream alike).
func Prepare(ev Event) (http.Header, error) {
	h := forwarded(ev.Header)
	if ev.DedupeKey != "" {
		h[HeaderDedupeKey] = []string{ev.DedupeKey}
	}
	if ev.Reencoded != "" {
		h[HeaderReencoded] = []string{ev.Reencoded}
	}
	if err := sendable(h); err != nil {
		return nil, err
	}
	return h, nil
}

// forwarded returns a copy of h without the headers that are not
// forwarded.
func forwarded(h http.Header) http.Header {
	drop := make(map[string]bool, len(hopHeaders))
	for _, name := range hopHeaders {
		drop[name] = true
	}
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				drop[http.CanonicalHeaderKey(name)] = true
			}
		}
	}
	out := make(http.Header, len(h)+1)
	for name, vals := range h {
		canon := http.CanonicalHeaderKey(name)
		if drop[canon] || strings.HasPrefix(canon, gatewayPrefix) {
			continue
		}
		out[name] = append([]string(nil), vals...)
	}
	return out
}

// sendable refuses a header that every attempt would fail to send, so
// that such an event is refused now (and not acknowledged) rather than
// failed days later. Its value is not quoted: it may be anything.
func sendable(h http.Header) error {
	for name, vals := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("%w: invalid name %q", ErrInvalidHeader, name)
		}
		for _, v := range vals {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("%w: %s has an invalid value", ErrInvalidHeader, name)
			}
		}
	}
	return nil
}
