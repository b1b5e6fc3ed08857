package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Client defaults.
const (
	DefaultTimeout          = 15 * time.Second
	DefaultMaxResponseBytes = 16 << 10
)

// ClientOptions configure a Client. The zero value is the default: 15s per
// attempt, 16 KiB of response kept, SSRF guard on with an empty allowlist.
type ClientOptions struct {
	// Timeout bounds one attempt, from dialing to the end of reading the
	// (capped) response body. Default 15s.
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body is read and kept in
	// the attempt log; the rest is never read. Default 16 KiB.
	MaxResponseBytes int
	// UserAgent is sent on every attempt. Default DefaultUserAgent.
	UserAgent string
	// Allow lists CIDR prefixes the SSRF guard lets through (for example
	// "127.0.0.0/8"). Ignored when AllowPrivate is set.
	Allow []string
	// AllowPrivate disables the SSRF guard: any address may be connected
	// to. Only for endpoints you trust, never for user-supplied URLs.
	AllowPrivate bool
}

// Client makes delivery attempts: one signed POST each, redirects not
// followed, no proxy, the response read up to a cap.
type Client struct {
	hc       *http.Client
	timeout  time.Duration
	maxResp  int
	ua       string
	guard    *Guard
	maxRetry time.Duration
}

// NewClient returns a Client for opts.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	var guard *Guard
	if !opts.AllowPrivate {
		g, err := NewGuard(opts.Allow...)
		if err != nil {
			return nil, err
		}
		guard = g
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	if guard != nil {
		dialer.Control = guard.Control
	}
	tr := &http.Transport{
		// No proxy: an environment proxy would bypass the guard, and
		// webhooks are not meant to leave through one.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			// 3xx is an answer, and a failure: a redirect could lead the
			// signed body anywhere, including past the SSRF guard's intent.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:  opts.Timeout,
		maxResp:  opts.MaxResponseBytes,
		ua:       opts.UserAgent,
		guard:    guard,
		maxRetry: DefaultMaxRetryAfter,
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Kinds of attempt results, a bounded set for metrics and displays: the
// status class of an answer, or why no answer came.
const (
	Kind2xx         = "2xx"
	Kind3xx         = "3xx"
	Kind4xx         = "4xx"
	Kind5xx         = "5xx"
	KindTimeout     = "timeout"     // no answer within the timeout
	KindRefused     = "refused"     // the endpoint refused the connection
	KindBlocked     = "blocked"     // the SSRF guard refused the address
	KindError       = "error"       // no answer for another reason: DNS, reset, TLS, a bad URL
	KindInterrupted = "interrupted" // the sender stopped during the attempt
)

// maxLocation bounds the Location of a 3xx kept in a Result.
const maxLocation = 512

// Result is the outcome of one attempt, before scheduling.
type Result struct {
	Start      time.Time
	Latency    time.Duration
	Status     int
	Kind       string // one of the Kind constants
	Err        error
	Response   []byte
	Truncated  bool
	RetryAfter time.Duration
	// Location is where a 3xx answer pointed (not followed), at most
	// 512 bytes.
	Location string
}

// Do makes attempt n of d: a POST of d.Body, signed with d.Secret in
// d.Scheme's format.
func (c *Client) Do(ctx context.Context, d *Delivery, n int) *Result {
	h := make(http.Header, 6)
	h.Set("Content-Type", "application/json")
	if err := d.sign(h, time.Now()); err != nil {
		return &Result{Start: time.Now(), Kind: KindError, Err: err}
	}
	h.Set(HeaderDeliveryID, d.ID)
	h.Set(HeaderAttempt, strconv.Itoa(n))
	return c.Post(ctx, d.URL, d.Body, h)
}

// Post makes one attempt: a POST of body to url with the headers h (taken
// as they are, not copied), and the client's User-Agent unless h has one.
// Like every attempt it is bounded by the client's timeout, follows no
// redirect, and reads the response up to the client's cap.
func (c *Client) Post(ctx context.Context, url string, body []byte, h http.Header) *Result {
	res := &Result{Start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	defer func() { res.Latency = time.Since(res.Start) }()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		res.Kind, res.Err = KindError, fmt.Errorf("building request: %w", ErrInvalidURL)
		return res
	}
	if h == nil {
		h = make(http.Header, 1)
	}
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", c.ua)
	}
	req.Header = h

	resp, err := c.hc.Do(req)
	if err != nil {
		res.Kind, res.Err = failureKind(err), cleanErr(err)
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	// A read error is ignored: the status line decides. The rest of a long
	// body is never read (the connection is then not reused).
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxResp)+1))
	if len(buf) > c.maxResp {
		buf, res.Truncated = buf[:c.maxResp], true
	}
	res.Response = buf
	switch {
	case res.Status >= 200 && res.Status < 300:
		res.Kind = Kind2xx
	case res.Status >= 300 && res.Status < 400:
		res.Kind = Kind3xx
		res.Location = truncate(resp.Header.Get("Location"), maxLocation)
		res.Err = fmt.Errorf("HTTP %d (redirects are not followed)", res.Status)
	case res.Status >= 400 && res.Status < 500:
		res.Kind, res.Err = Kind4xx, fmt.Errorf("HTTP %d", res.Status)
	case res.Status >= 500 && res.Status < 600:
		res.Kind, res.Err = Kind5xx, fmt.Errorf("HTTP %d", res.Status)
	default:
		res.Kind, res.Err = KindError, fmt.Errorf("HTTP %d", res.Status)
	}
	if res.Status == http.StatusTooManyRequests || res.Status == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), c.maxRetry)
	}
	return res
}

// failureKind names why a request got no answer.
func failureKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return KindBlocked
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	}
	return KindError
}

// truncate returns the first n bytes of s.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// cleanErr drops the URL from a transport error (it is in the delivery
// already) and names timeouts and guard refusals plainly.
func cleanErr(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timeout")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timeout")
	}
	return err
}
