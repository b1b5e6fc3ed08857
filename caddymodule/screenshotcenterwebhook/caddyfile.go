package screenshotcenterwebhook

import (
	"strconv"
	"time"

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
//	screenshotcenter_webhook [<matcher>] {
//	    secret <value>...               # repeatable, at least one; {env.NAME} and {file./path} resolved at provision
//	    mode enforce|report             # report: check and count everything, refuse nothing; default enforce
//	    name <label>                    # the endpoint label of the metrics; default: the namespace or "default"
//	    signature_header <name>...      # default: X-ScreenshotCenter-Signature X-Signature
//	    max_body <size>                 # default 1MiB
//	    body_timeout <duration>         # time to read the whole body; default 10s (408 body_timeout)
//	    max_buffered <size>             # body bytes buffered by the process at once; default 64MiB (503 buffer_full)
//	    events <name>...                # optional allowlist of events to forward
//	    max_age <duration>              # optional replay window on the signed created_at
//	    reencode js|python|php          # forward the body as that runtime re-serialises it, re-signed
//	    dedupe memory|redis|off {       # default memory
//	        ttl <duration>              # how long a delivered key is remembered; default 72h
//	        inflight_timeout <duration> # how long a claim blocks copies while the upstream works; default 60s
//	        key <template>              # e.g. {event}|{screenshot_id}; default: that, with batch_id or body hash as fallbacks
//	        namespace <name>            # keeps endpoints sharing a store apart; default: request host and path
//	        on_error closed|open        # store unavailable: 503 + Retry-After (default) or forward without dedupe
//
//	        # memory only
//	        max_keys <n>                # memory bound (oldest delivered keys evicted when full); default 1000000
//	        evict_warn_age <duration>   # warn when an evicted key is younger; default 24h
//	        persist <file>              # snapshot of delivered keys, loaded at start, written on exit and every interval
//	        persist_interval <duration> # default 1m
//
//	        # redis only (Redis or Valkey; one of url or addresses)
//	        url <redis-url>             # redis://[user:pass@]host:port/db or rediss://; e.g. {env.REDIS_URL}
//	        addresses <host:port>...    # one: a server; several: Cluster seeds; with master_name: Sentinels
//	        master_name <name>          # Sentinel master name
//	        username <name>             # with addresses; placeholders allowed
//	        password <value>            # with addresses; write it as {env.NAME} or {file./path}
//	        tls                         # with addresses: connect with TLS
//	        key_prefix <string>         # default "scgate:"
//	        timeout <duration>          # per store operation; default 250ms
//	    }
//	}
//
// Write secrets as {env.NAME} or {file./path}, not {$NAME}: the latter is
// substituted when the Caddyfile is adapted, so the secret would appear in
// the JSON config (GET /config/, autosave.json). The same goes for a Redis
// url or password holding a password.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Secrets = append(h.Secrets, args...)
		case "signature_header":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.SignatureHeaders = append(h.SignatureHeaders, args...)
		case "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil {
				return d.Errf("parsing max_body: %v", err)
			}
			if size == 0 {
				// 0 would read as "not set".
				return d.Err("max_body must be greater than zero")
			}
			h.MaxBody = int64(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "body_timeout":
			dur, err := parseDurationArg(d, "body_timeout")
			if err != nil {
				return err
			}
			h.BodyTimeout = caddy.Duration(dur)
		case "max_buffered":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil {
				return d.Errf("parsing max_buffered: %v", err)
			}
			if size == 0 {
				// 0 would read as "not set".
				return d.Err("max_buffered must be greater than zero")
			}
			h.MaxBuffered = int64(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "events":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Events = append(h.Events, args...)
		case "max_age":
			dur, err := parseDurationArg(d, "max_age")
			if err != nil {
				return err
			}
			h.MaxAge = caddy.Duration(dur)
		case "mode", "name":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			if name == "mode" {
				h.Mode = d.Val()
			} else {
				h.Name = d.Val()
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "reencode":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Reencode = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "dedupe":
			if err := h.unmarshalDedupe(d); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized screenshotcenter_webhook subdirective '%s'", d.Val())
		}
	}
	return nil
}

func (h *Handler) unmarshalDedupe(d *caddyfile.Dispenser) error {
	if h.Dedupe != nil {
		return d.Err("dedupe may be configured only once")
	}
	cfg := new(DedupeConfig)
	h.Dedupe = cfg
	if d.NextArg() {
		cfg.Backend = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "ttl":
			dur, err := parseDurationArg(d, "ttl")
			if err != nil {
				return err
			}
			cfg.TTL = caddy.Duration(dur)
		case "inflight_timeout":
			dur, err := parseDurationArg(d, "inflight_timeout")
			if err != nil {
				return err
			}
			cfg.InflightTimeout = caddy.Duration(dur)
		case "max_keys":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n == 0 {
				// 0 would read as "not set".
				return d.Errf("max_keys must be a positive integer, got '%s'", d.Val())
			}
			cfg.MaxKeys = n
			if d.NextArg() {
				return d.ArgErr()
			}
		case "evict_warn_age":
			dur, err := parseDurationArg(d, "evict_warn_age")
			if err != nil {
				return err
			}
			cfg.EvictWarnAge = caddy.Duration(dur)
		case "key":
			if !d.NextArg() {
				return d.ArgErr()
			}
			cfg.Key = d.Val()
			if cfg.Key == "" {
				return d.Err("key must not be empty")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "namespace":
			if !d.NextArg() {
				return d.ArgErr()
			}
			cfg.Namespace = d.Val()
			if cfg.Namespace == "" {
				return d.Err("namespace must not be empty")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "on_error":
			if !d.NextArg() {
				return d.ArgErr()
			}
			cfg.OnError = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			handled, err := unmarshalBackendOption(d, cfg)
			if err != nil {
				return err
			}
			if !handled {
				return d.Errf("unrecognized dedupe subdirective '%s'", d.Val())
			}
		}
	}
	return nil
}

// unmarshalBackendOption reads a subdirective of the memory (persist) or
// redis backend. It reports false for a name it does not know.
func unmarshalBackendOption(d *caddyfile.Dispenser, cfg *DedupeConfig) (bool, error) {
	name := d.Val()
	switch name {
	case "persist", "persist_interval":
	case "url", "addresses", "master_name", "username", "password", "tls", "key_prefix", "timeout":
		if cfg.Redis == nil {
			cfg.Redis = new(RedisConfig)
		}
	default:
		return false, nil
	}
	rc := cfg.Redis
	switch name {
	case "addresses":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.ArgErr()
		}
		rc.Addresses = append(rc.Addresses, args...)
		return true, nil
	case "tls":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		rc.TLS = true
		return true, nil
	case "persist_interval", "timeout":
		dur, err := parseDurationArg(d, name)
		if err != nil {
			return true, err
		}
		if name == "timeout" {
			rc.Timeout = caddy.Duration(dur)
		} else {
			cfg.PersistInterval = caddy.Duration(dur)
		}
		return true, nil
	}
	if !d.NextArg() {
		return true, d.ArgErr()
	}
	val := d.Val()
	if val == "" {
		return true, d.Errf("%s must not be empty", name)
	}
	if d.NextArg() {
		return true, d.ArgErr()
	}
	var field *string
	switch name {
	case "persist":
		field = &cfg.Persist
	case "url":
		field = &rc.URL
	case "master_name":
		field = &rc.MasterName
	case "username":
		field = &rc.Username
	case "password":
		field = &rc.Password
	case "key_prefix":
		field = &rc.KeyPrefix
	}
	if *field != "" {
		return true, d.Errf("%s may be set only once", name)
	}
	*field = val
	return true, nil
}

// parseDurationArg reads exactly one duration argument. Zero is refused
// because it would read as "not set"; negative values are left to the
// config's rules (config.go), which JSON configs go through too.
func parseDurationArg(d *caddyfile.Dispenser, name string) (time.Duration, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil {
		return 0, d.Errf("parsing %s: %v", name, err)
	}
	if dur == 0 {
		return 0, d.Errf("%s must be positive, got '%s'", name, d.Val())
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return dur, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
