package screenshotcentersender

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scgate/scgate/caddymodule/internal/cfargs"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	screenshotcenter_sender [<matcher>] {
//	    scheme <name>                   # sign as this provider does (the receiver's scheme names); default screenshotcenter
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
//	    allowed_hosts <host>...         # Host names taken besides localhost and loopback addresses
//	}
//
// Write secrets as {env.NAME} or {file./path}, not {$NAME}: the latter is
// substituted when the Caddyfile is adapted, so the secret would appear in
// the JSON config (GET /config/, autosave.json). Bind the site to
// loopback: `http://:8081 { bind 127.0.0.1 ... }` (a site address alone
// does not bind; it only adds a host matcher).
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
		case "scheme":
			h.Scheme, err = cfargs.One(d)
		case "store":
			h.Store, err = cfargs.One(d)
		case "workers":
			h.Workers, err = cfargs.Number(d, cfargs.Int)
		case "per_endpoint":
			h.PerEndpoint, err = cfargs.Number(d, cfargs.Int)
		case "attempts":
			h.Attempts, err = cfargs.Number(d, cfargs.Int)
		case "backoff":
			h.Backoff, err = cfargs.Durations(d, h.Backoff)
		case "timeout":
			h.Timeout, err = cfargs.Number(d, cfargs.Duration)
		case "retain":
			h.Retain, err = cfargs.Number(d, cfargs.Duration)
		case "max_body":
			h.MaxBody, err = cfargs.Number(d, cfargs.Size)
		case "allow":
			h.Allow, err = cfargs.Append(d, h.Allow)
		case "allowed_hosts":
			h.AllowedHosts, err = cfargs.Append(d, h.AllowedHosts)
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
			ep.Secret, err = cfargs.One(d)
		case "events":
			ep.Events, err = cfargs.Append(d, ep.Events)
		default:
			return nil, d.Errf("unrecognized endpoint subdirective '%s'", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return ep, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
