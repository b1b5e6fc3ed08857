package screenshotcentersender

import (
	"errors"
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	screenshotcenter_sender [<matcher>] {
//	    endpoint <url> {                # repeatable, at least one
//	        secret <value>              # required; {env.NAME} or {file./path}, resolved at provision
//	        events <name>...            # optional: only these events go to this endpoint
//	    }
//	    store <path>                    # default: scgate/outbox.db in Caddy's data directory
//	    workers <n>                     # default 8
//	    per_endpoint <n>                # default 4
//	    attempts <n>                    # default 5
//	    backoff <duration>...           # default 10s 1m 5m 30m
//	    timeout <duration>              # per attempt; default 15s
//	    retain <duration>               # keep delivered/failed/gone deliveries; default 168h
//	    max_body <size>                 # default 1MiB
//	    allow <cidr>...                 # let the SSRF guard through to these prefixes
//	    allow_private                   # turn the SSRF guard off
//	}
//
// Write secrets as {env.NAME} or {file./path}, not {$NAME}: the latter is
// substituted when the Caddyfile is adapted, so the secret would appear in
// the JSON config (GET /config/, autosave.json). Bind the site to
// localhost, e.g. `http://127.0.0.1:8081 { ... }`.
//
// It only parses: tokens become the JSON config's fields, and Provision
// checks the values (config.go) as it does for a JSON config. The one
// thing it refuses besides malformed tokens is an explicit 0 for a number,
// duration or size: the JSON config has no way to say it (0 there means
// "the default"), so it would silently become the default.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "endpoint":
			var ep *Endpoint
			ep, err = unmarshalEndpoint(d)
			h.Endpoints = append(h.Endpoints, ep)
		case "store":
			h.Store, err = oneArg(d)
		case "workers":
			h.Workers, err = numberArg(d, parseInt)
		case "per_endpoint":
			h.PerEndpoint, err = numberArg(d, parseInt)
		case "attempts":
			h.Attempts, err = numberArg(d, parseInt)
		case "backoff":
			h.Backoff, err = durationArgs(d, h.Backoff)
		case "timeout":
			h.Timeout, err = numberArg(d, parseDuration)
		case "retain":
			h.Retain, err = numberArg(d, parseDuration)
		case "max_body":
			h.MaxBody, err = numberArg(d, parseSize)
		case "allow":
			h.Allow, err = appendArgs(d, h.Allow)
		case "allow_private":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowPrivate = true
		default:
			return d.Errf("unrecognized screenshotcenter_sender subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func unmarshalEndpoint(d *caddyfile.Dispenser) (*Endpoint, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	ep := &Endpoint{URL: d.Val()}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "secret":
			if ep.Secret != "" {
				return nil, d.Err("an endpoint has one secret")
			}
			ep.Secret, err = oneArg(d)
		case "events":
			ep.Events, err = appendArgs(d, ep.Events)
		default:
			return nil, d.Errf("unrecognized endpoint subdirective '%s'", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return ep, nil
}

// oneArg reads the one argument of the current subdirective.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// appendArgs appends the one or more arguments of the current
// subdirective to list.
func appendArgs(d *caddyfile.Dispenser, list []string) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return append(list, args...), nil
}

// numberArg reads the one argument of the current subdirective, a number,
// duration or size, with parse. An explicit 0 is refused: the JSON config
// cannot hold it (0 there means the default).
func numberArg[T int | int64 | caddy.Duration](d *caddyfile.Dispenser, parse func(string) (T, error)) (T, error) {
	name := d.Val()
	v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	x, err := parse(v)
	if err != nil {
		return 0, d.Errf("parsing %s '%s': %v", name, v, err)
	}
	if x == 0 {
		return 0, errExplicitZero(d, name)
	}
	return x, nil
}

// durationArgs appends the one or more duration arguments of the current
// subdirective to list.
func durationArgs(d *caddyfile.Dispenser, list []caddy.Duration) ([]caddy.Duration, error) {
	name := d.Val()
	args, err := appendArgs(d, nil)
	if err != nil {
		return nil, err
	}
	for _, a := range args {
		dur, err := parseDuration(a)
		if err != nil {
			return nil, d.Errf("parsing %s '%s': %v", name, a, err)
		}
		list = append(list, dur)
	}
	return list, nil
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not an integer")
	}
	return n, nil
}

func parseDuration(v string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(v)
	return caddy.Duration(dur), err
}

// parseSize reads a size such as 64KiB or 1MB.
func parseSize(v string) (int64, error) {
	size, err := humanize.ParseBytes(v)
	if err != nil {
		return 0, err
	}
	if size > math.MaxInt64 {
		return 0, errors.New("too large")
	}
	return int64(size), nil
}

// errExplicitZero refuses an explicit 0, which the JSON config cannot
// hold: 0 there means the default.
func errExplicitZero(d *caddyfile.Dispenser, name string) error {
	return d.Errf("%s 0 cannot be configured: leave %s out for its default", name, name)
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
