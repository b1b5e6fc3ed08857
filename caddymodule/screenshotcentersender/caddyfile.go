package screenshotcentersender

import (
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
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "endpoint":
			ep, err := unmarshalEndpoint(d)
			if err != nil {
				return err
			}
			h.Endpoints = append(h.Endpoints, ep)
		case "store":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Store = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "workers", "per_endpoint", "attempts":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("%s must be a positive integer, got '%s'", name, d.Val())
			}
			switch name {
			case "workers":
				h.Workers = n
			case "per_endpoint":
				h.PerEndpoint = n
			default:
				h.Attempts = n
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "backoff":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				dur, err := caddy.ParseDuration(a)
				if err != nil {
					return d.Errf("parsing backoff: %v", err)
				}
				if dur <= 0 {
					return d.Errf("backoff must be positive, got '%s'", a)
				}
				h.Backoff = append(h.Backoff, caddy.Duration(dur))
			}
		case "timeout", "retain":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("parsing %s: %v", name, err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive, got '%s'", name, d.Val())
			}
			if name == "timeout" {
				h.Timeout = caddy.Duration(dur)
			} else {
				h.Retain = caddy.Duration(dur)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil {
				return d.Errf("parsing max_body: %v", err)
			}
			if size == 0 || size > 1<<40 {
				return d.Errf("max_body out of range: '%s'", d.Val())
			}
			h.MaxBody = int64(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "allow":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.AllowCIDRs = append(h.AllowCIDRs, args...)
		case "allow_private":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowPrivate = true
		default:
			return d.Errf("unrecognized screenshotcenter_sender subdirective '%s'", d.Val())
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
		switch d.Val() {
		case "secret":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			if ep.Secret != "" {
				return nil, d.Err("an endpoint has one secret")
			}
			ep.Secret = d.Val()
			if d.NextArg() {
				return nil, d.ArgErr()
			}
		case "events":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			ep.Events = append(ep.Events, args...)
		default:
			return nil, d.Errf("unrecognized endpoint subdirective '%s'", d.Val())
		}
	}
	return ep, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
