package sender

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NetOptions are the network settings of a delivery's attempts: the SSRF
// guard and the timeout. They are recorded with the delivery when it is
// enqueued, like its URL and secret, so that each delivery is attempted
// with the settings of whoever accepted it, whatever else shares the
// outbox. The zero value, which is also what a record written before they
// existed reads as, means the sender's default client (Options.Client: by
// default the guard on with an empty allowlist, DefaultTimeout).
type NetOptions struct {
	// AllowPrivate turns the SSRF guard off for this delivery.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// Allow lists CIDR prefixes the guard lets through. Ignored with
	// AllowPrivate.
	Allow []string `json:"allow,omitempty"`
	// Timeout bounds one attempt. 0 means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// IsZero reports whether n is the zero value (the sender's default
// client).
func (n NetOptions) IsZero() bool {
	return !n.AllowPrivate && len(n.Allow) == 0 && n.Timeout == 0
}

// check reports an invalid allowlist or timeout.
func (n NetOptions) check() error {
	if n.Timeout < 0 {
		return fmt.Errorf("network settings: negative timeout")
	}
	_, err := NewGuard(n.Allow...)
	return err
}

// key is the cache key of n: equal for settings that make equal clients.
func (n NetOptions) key() (string, error) {
	t := n.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	if n.AllowPrivate {
		return "all " + strconv.FormatInt(int64(t), 10), nil
	}
	ps := make([]string, 0, len(n.Allow))
	for _, s := range n.Allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", fmt.Errorf("allowlist entry %q: %w", s, err)
		}
		ps = append(ps, unmapPrefix(p.Masked()).String())
	}
	slices.Sort(ps)
	ps = slices.Compact(ps)
	return "guard " + strconv.FormatInt(int64(t), 10) + " " + strings.Join(ps, ","), nil
}

// Client cache timings.
const (
	clientIdleAfter  = 5 * time.Minute
	clientSweepEvery = time.Minute
)

// clientCache holds one Client per NetOptions in use. Clients no attempt
// has used for clientIdleAfter are closed and dropped by sweep.
type clientCache struct {
	now func() time.Time // the sender's clock; nil means time.Now

	mu sync.Mutex
	m  map[string]*cachedClient
}

func (cc *clientCache) clock() time.Time {
	if cc.now == nil {
		return time.Now()
	}
	return cc.now()
}

type cachedClient struct {
	c     *Client
	inUse int
	last  time.Time
}

// get returns the client for n and a release function to call when the
// attempt is over.
func (cc *clientCache) get(n NetOptions) (*Client, func(), error) {
	k, err := n.key()
	if err != nil {
		return nil, nil, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e := cc.m[k]
	if e == nil {
		c, err := NewClient(ClientOptions{AllowPrivate: n.AllowPrivate, Allow: n.Allow, Timeout: n.Timeout})
		if err != nil {
			return nil, nil, err
		}
		if cc.m == nil {
			cc.m = make(map[string]*cachedClient)
		}
		e = &cachedClient{c: c}
		cc.m[k] = e
	}
	e.inUse++
	e.last = cc.clock()
	return e.c, func() {
		cc.mu.Lock()
		e.inUse--
		e.last = cc.clock()
		cc.mu.Unlock()
	}, nil
}

// sweep closes (their idle connections) and drops the clients no attempt
// uses and none used since cutoff (every unused one for a zero cutoff),
// and returns how many are left.
func (cc *clientCache) sweep(cutoff time.Time) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for k, e := range cc.m {
		if e.inUse == 0 && (cutoff.IsZero() || e.last.Before(cutoff)) {
			e.c.Close()
			delete(cc.m, k)
		}
	}
	return len(cc.m)
}
