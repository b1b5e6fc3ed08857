package screenshotcenterwebhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/scgate/scgate/flow"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/reencode"
)

// headerTrue is the shared value of X-Scgate-Verified.
var headerTrue = []string{"true"}

// upstreamBody is the body passed upstream and, when it was re-encoded,
// its signature and the pooled buffer that holds it.
type upstreamBody struct {
	body []byte
	// resign: the body is a re-encoding, to be signed with secret.
	resign bool
	secret int
	buf    *[]byte
}

// reencodeBuffers holds the buffers of re-encoded bodies between requests.
var reencodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// upstreamBody re-encodes the verified body if the handler is configured
// to. A body the handler's runtime could not process is refused (422):
// forwarded, it would fail there too.
func (h *Handler) upstreamBody(ev gateway.Event) (upstreamBody, *gateway.Rejection) {
	if h.reencode == 0 {
		return upstreamBody{body: ev.Body}, nil
	}
	buf := reencodeBuffers.Get().(*[]byte)
	out, err := reencode.Append((*buf)[:0], ev.Body, h.reencode)
	if err != nil {
		reencodeBuffers.Put(buf)
		return upstreamBody{}, reencodeRejection(err)
	}
	*buf = out
	return upstreamBody{body: out, resign: true, secret: ev.SecretIndex, buf: buf}, nil
}

// release returns a re-encoded body's buffer once nothing reads it.
func (u upstreamBody) release() {
	if u.buf != nil && cap(*u.buf) <= maxPooledBody {
		reencodeBuffers.Put(u.buf)
	}
}

// maxPooledBody keeps an occasional huge body from pinning its buffer.
const maxPooledBody = 256 << 10

// reencodeRejection is the 422 of a body the runtime cannot process, with
// a bounded reason code per cause.
func reencodeRejection(err error) *gateway.Rejection {
	reason := "reencode_failed"
	var re *reencode.Error
	if errors.As(err, &re) {
		reason = "reencode_" + re.Reason
	}
	return &gateway.Rejection{Status: http.StatusUnprocessableEntity, Reason: reason, Err: err}
}

// prepareUpstreamRequest gives r the body (with its length, also when it
// came chunked) and the headers the gateway promises the upstream.
func (h *Handler) prepareUpstreamRequest(r *http.Request, up upstreamBody, c flow.Claim) {
	body := up.body
	rd := new(bufferedBody)
	rd.Reset(body)
	r.Body = rd
	if r.ContentLength != int64(len(body)) {
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	r.Header.Del("Incremental")
	// What the upstream gets is this request's headers and body, nothing
	// more: trailers would come after the checks (a client could add
	// X-Scgate-Verified or another event name there), and reverse_proxy
	// would send the body chunked to make room for them.
	r.Trailer = nil
	// Connection is hop-by-hop, and reverse_proxy deletes every header it
	// names: a client could make it drop the signature or the gateway's
	// own headers. The upstream connection gets its own.
	r.Header.Del("Connection")
	if up.resign {
		// The original signature never travels next to a body it does not
		// sign. The checker reads every line of a header (an empty first
		// line and the signature in the second pass), so the scheme
		// replaces every line of each signature header the request carried
		// with the one new signature.
		h.checker.Scheme.Sign(r.Header, up.secret, up.body, nowFunc())
		r.Header[HeaderReencoded] = []string{h.Reencode}
	}
	r.Header[HeaderVerified] = headerTrue
	if c.State != flow.Off {
		r.Header[HeaderDedupeKey] = []string{dedupeKeyHeader(c.Key.Display())}
	}
}

// stripGatewayHeaders removes request headers only the gateway may set.
func stripGatewayHeaders(hdr http.Header) {
	for name := range hdr {
		if len(name) >= len(gatewayHeaderStart) && strings.EqualFold(name[:len(gatewayHeaderStart)], gatewayHeaderStart) {
			delete(hdr, name)
		}
	}
}

// bufferedBody replays the verified body to the next handler.
type bufferedBody struct{ bytes.Reader }

func (*bufferedBody) Close() error { return nil }

// maxKeyHeader bounds X-Scgate-Dedupe-Key: an upstream with small header
// limits would answer a long signed id with 431 on every retry.
const maxKeyHeader = 200

// dedupeKeyHeader is the value of X-Scgate-Dedupe-Key: the key, or past
// maxKeyHeader bytes "sha256:" and the hex SHA-256 of the key (a default
// key starts with a quote, so the two forms never meet).
func dedupeKeyHeader(key string) string {
	if len(key) > maxKeyHeader {
		sum := sha256.Sum256([]byte(key))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return headerSafe(key)
}

// headerSafe returns s, or, when it has control bytes (a key template can
// put a signed value with a newline in it), s with those and '%'
// percent-encoded: such a header would make every retry fail in the
// transport.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return encodeHeader(s)
		}
	}
	return s
}

func encodeHeader(s string) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '%' {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
