package screenshotcenterwebhook

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

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens, under
// either directive (screenshotcenter_webhook or webhook_gateway). Syntax:
//
//	screenshotcenter_webhook|webhook_gateway [<matcher>] {
//	    scheme <name>                   # screenshotcenter (default), github, stripe, standard, shopify, slack or discord
//	    secret <value>...               # repeatable, at least one; {env.NAME} and {file./path} resolved at provision; format per scheme
//	    mode enforce|report             # report: check and count everything, refuse nothing; default enforce
//	    name <label>                    # the endpoint label of the metrics; default: the namespace or "default"
//	    signature_header <name>...      # scheme screenshotcenter only; default: X-ScreenshotCenter-Signature X-Signature
//	    max_body <size>                 # default 1MiB
//	    body_timeout <duration>         # time to read the whole body; default 10s (408 body_timeout)
//	    body_min_rate <size>            # lowest average rate of a body, per second, after 2s; default 16KiB (408 body_too_slow)
//	    max_buffered <size>             # body bytes buffered by the process at once; default 64MiB (503 buffer_full)
//	    max_buffered_per_client <size>  # what one client's bodies may hold of it; default max_buffered/16 (503 client_buffer_full)
//	    max_streams_per_connection <n>  # bodies of one HTTP/2 connection read at once; default 16 (503 too_many_streams)
//	    events <name>...                # optional allowlist of events to forward
//	    max_age <duration>              # replay window: screenshotcenter's created_at (default none); timestamped schemes default 5m
//	    reencode js|python|php          # forward the body as that runtime re-serialises it, re-signed
//	    event_log <n>|off               # entries of the process's event log (GET /scgate/events); default 10000
//	    dedupe memory|redis|off {       # default memory
//	        ttl <duration>              # how long a delivered key is remembered; default 72h
//	        inflight_timeout <duration> # how long a claim blocks copies while the upstream works; default 60s
//	        key <template>              # e.g. {event}|{screenshot_id}; default: that, with batch_id or body hash as fallbacks
//	        namespace <name>            # keeps endpoints sharing a store apart; default: none (two handlers sharing keys is a config error)
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
//	    inbox {                         # answer 202 once durable, deliver with retries (no handler after it)
//	        deliver_to <url>            # required: where events are delivered
//	        store <file>                # backend bolt only; default: scgate/inbox.db in Caddy's data dir
//	        backend bolt                # default: the queue in a bbolt file on this gateway's disk
//	        backend nats <url> {        # or: one queue in NATS JetStream, shared by every gateway
//	            stream <name>           # default SCGATE_INBOX
//	            subject <prefix>        # default scgate.inbox
//	            consumer <name>         # default <stream>_deliver
//	            credentials <file>      # or user <name> + password <secret>, or token <secret>
//	            tls_ca <file>           # CA of the server's certificate (makes the connection TLS)
//	            tls_cert <file>         # client certificate, with tls_key <file>
//	            replicas <n>            # JetStream cluster: servers per stream; default 1
//	        }
//	        attempts <n>                # default 18 (about 3 days with the default backoff)
//	        backoff <duration>...       # the last one repeats; default 10s 1m 5m 30m 2h 6h
//	        timeout <duration>          # per attempt; default 15s
//	        concurrency <n>             # deliveries in flight; default 8
//	        rate <n>/s|m|h              # optional ceiling on attempts started
//	        burst <n>                   # with rate; default rate/20 per second, at least 1
//	        order_by <template>         # optional, e.g. {screenshot_id}: one at a time per key, in order
//	        retain <duration>           # delivered and failed entries kept; default 168h
//	    }
//	}
//
// Write secrets as {env.NAME} or {file./path}, not {$NAME}: the latter is
// substituted when the Caddyfile is adapted, so the secret would appear in
// the JSON config (GET /config/, autosave.json). The same goes for a Redis
// url or password holding a password.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	directive := d.Val()
	if err := cfargs.None(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "scheme":
			h.Scheme, err = cfargs.One(d)
		case "secret":
			h.Secrets, err = cfargs.Append(d, h.Secrets)
		case "mode":
			h.Mode, err = cfargs.One(d)
		case "name":
			h.Name, err = cfargs.One(d)
		case "signature_header":
			h.SignatureHeaders, err = cfargs.Append(d, h.SignatureHeaders)
		case "max_body":
			h.MaxBody, err = cfargs.Number(d, cfargs.Size)
		case "body_timeout":
			h.BodyTimeout, err = cfargs.Number(d, cfargs.Duration)
		case "body_min_rate":
			h.BodyMinRate, err = cfargs.Number(d, cfargs.Size)
		case "max_buffered":
			h.MaxBuffered, err = cfargs.Number(d, cfargs.Size)
		case "max_buffered_per_client":
			h.MaxBufferedPerClient, err = cfargs.Number(d, cfargs.Size)
		case "max_streams_per_connection":
			h.MaxStreamsPerConnection, err = cfargs.Number(d, cfargs.Int)
		case "events":
			h.Events, err = cfargs.Append(d, h.Events)
		case "max_age":
			h.MaxAge, err = cfargs.Number(d, cfargs.Duration)
		case "reencode":
			h.Reencode, err = cfargs.One(d)
		case "event_log":
			h.EventLog, err = cfargs.NumberOr(d, cfargs.Int, "off", EventLogOff)
		case "dedupe":
			err = h.unmarshalDedupe(d)
		case "inbox":
			err = h.unmarshalInbox(d)
		default:
			return d.Errf("unrecognized %s subdirective '%s'", directive, d.Val())
		}
		if err != nil {
			return err
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
		if err := cfargs.None(d); err != nil {
			return err
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch name := d.Val(); name {
		case "ttl":
			cfg.TTL, err = cfargs.Number(d, cfargs.Duration)
		case "inflight_timeout":
			cfg.InflightTimeout, err = cfargs.Number(d, cfargs.Duration)
		case "max_keys":
			cfg.MaxKeys, err = cfargs.Number(d, cfargs.Int)
		case "evict_warn_age":
			cfg.EvictWarnAge, err = cfargs.Number(d, cfargs.Duration)
		case "key":
			cfg.Key, err = cfargs.NonEmpty(d)
		case "namespace":
			cfg.Namespace, err = cfargs.NonEmpty(d)
		case "on_error":
			cfg.OnError, err = cfargs.One(d)
		case "persist":
			err = setOnce(d, &cfg.Persist)
		case "persist_interval":
			cfg.PersistInterval, err = cfargs.Number(d, cfargs.Duration)
		case "url", "addresses", "master_name", "username", "password", "tls", "key_prefix", "timeout":
			if cfg.Redis == nil {
				cfg.Redis = new(RedisConfig)
			}
			err = unmarshalRedisOption(d, cfg.Redis)
		default:
			return d.Errf("unrecognized dedupe subdirective '%s'", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) unmarshalInbox(d *caddyfile.Dispenser) error {
	if h.Inbox != nil {
		return d.Err("inbox may be configured only once")
	}
	if err := cfargs.None(d); err != nil {
		return err
	}
	cfg := new(InboxConfig)
	h.Inbox = cfg
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch name := d.Val(); name {
		case "deliver_to":
			err = setOnce(d, &cfg.DeliverTo)
		case "store":
			err = setOnce(d, &cfg.Store)
		case "backend":
			err = unmarshalInboxBackend(d, cfg)
		case "attempts":
			cfg.Attempts, err = cfargs.Number(d, cfargs.Int)
		case "backoff":
			cfg.Backoff, err = cfargs.Durations(d, cfg.Backoff)
		case "timeout":
			cfg.Timeout, err = cfargs.Number(d, cfargs.Duration)
		case "concurrency":
			cfg.Concurrency, err = cfargs.Number(d, cfargs.Int)
		case "rate":
			err = setOnce(d, &cfg.Rate)
		case "burst":
			cfg.Burst, err = cfargs.Number(d, cfargs.Int)
		case "order_by":
			err = setOnce(d, &cfg.OrderBy)
		case "retain":
			cfg.Retain, err = cfargs.Number(d, cfargs.Duration)
		default:
			return d.Errf("unrecognized inbox subdirective '%s'", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalInboxBackend reads `backend bolt` or `backend nats <url> {...}`.
func unmarshalInboxBackend(d *caddyfile.Dispenser, cfg *InboxConfig) error {
	if cfg.Backend != "" {
		return d.Err("inbox backend may be set only once")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	cfg.Backend = d.Val()
	if cfg.Backend != InboxBackendNATS {
		return cfargs.None(d) // check refuses a name it does not know
	}
	n := new(InboxNATSConfig)
	cfg.NATS = n
	var err error
	if n.URL, err = cfargs.NonEmpty(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch name := d.Val(); name {
		case "stream":
			err = setOnce(d, &n.Stream)
		case "subject":
			err = setOnce(d, &n.Subject)
		case "consumer":
			err = setOnce(d, &n.Consumer)
		case "credentials":
			err = setOnce(d, &n.Credentials)
		case "user":
			err = setOnce(d, &n.User)
		case "password":
			err = setOnce(d, &n.Password)
		case "token":
			err = setOnce(d, &n.Token)
		case "tls_ca":
			err = setOnce(d, &n.TLSCA)
		case "tls_cert":
			err = setOnce(d, &n.TLSCert)
		case "tls_key":
			err = setOnce(d, &n.TLSKey)
		case "replicas":
			n.Replicas, err = cfargs.Number(d, cfargs.Int)
		default:
			return d.Errf("unrecognized inbox backend nats subdirective '%s'", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalRedisOption reads a subdirective of the redis backend.
func unmarshalRedisOption(d *caddyfile.Dispenser, rc *RedisConfig) error {
	var err error
	switch d.Val() {
	case "url":
		err = setOnce(d, &rc.URL)
	case "addresses":
		rc.Addresses, err = cfargs.Append(d, rc.Addresses)
	case "master_name":
		err = setOnce(d, &rc.MasterName)
	case "username":
		err = setOnce(d, &rc.Username)
	case "password":
		err = setOnce(d, &rc.Password)
	case "tls":
		rc.TLS, err = true, cfargs.None(d)
	case "key_prefix":
		err = setOnce(d, &rc.KeyPrefix)
	case "timeout":
		rc.Timeout, err = cfargs.Number(d, cfargs.Duration)
	}
	return err
}

// setOnce reads the one, non-empty argument of the current subdirective
// into field, refusing a second occurrence.
func setOnce(d *caddyfile.Dispenser, field *string) error {
	name := d.Val()
	v, err := cfargs.NonEmpty(d)
	if err != nil {
		return err
	}
	if *field != "" {
		return d.Errf("%s may be set only once", name)
	}
	*field = v
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
