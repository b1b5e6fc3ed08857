package screenshotcenterwebhook

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/placeholder"
	"github.com/scgate/scgate/caddymodule/internal/secret"
	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/eventlog"
	"github.com/scgate/scgate/flow"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/reencode"
	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/webhook"
)

// Defaults.
const (
	DefaultBodyTimeout     = 10 * time.Second
	DefaultMaxBuffered     = 64 << 20
	DefaultTTL             = 72 * time.Hour
	DefaultInflightTimeout = 60 * time.Second
	// DefaultPersistInterval is how often a memory store's snapshot is
	// written when persist is set.
	DefaultPersistInterval = time.Minute
	DefaultEvictWarnAge    = 24 * time.Hour
	DefaultRedisTimeout    = dedupe.DefaultRedisTimeout
	DefaultKeyPrefix       = dedupe.DefaultRedisKeyPrefix
	// DefaultEventLog is how many answered requests the process's event
	// log holds unless a handler asks for more.
	DefaultEventLog = eventlog.DefaultSize
	// MaxEventLog bounds event_log: each entry costs about 250 bytes
	// plus its ids and dedupe key (at most 256 bytes each).
	MaxEventLog = 1_000_000
	// EventLogOff is event_log for a handler that records nothing
	// (`event_log off` in the Caddyfile).
	EventLogOff = -1
)

// Defaults of the limits that keep clients without the secret from tying
// up memory or crowding out signed events (with max_buffered).
const (
	// DefaultBodyMinRate is the lowest average rate of a body, in bytes
	// per second.
	DefaultBodyMinRate = 16 << 10
	// DefaultMaxStreamsPerConnection bounds the bodies of one HTTP/2 or
	// HTTP/3 connection read at once.
	DefaultMaxStreamsPerConnection = 16
	// defaultClientShares is how many clients holding their whole share
	// it takes to use up max_buffered by default.
	defaultClientShares = 16
)

// Modes.
const (
	// ModeEnforce answers every request that does not pass as the README's
	// table says; only valid, first-seen events are forwarded.
	ModeEnforce = "enforce"
	// ModeReport checks and counts every request as ModeEnforce does but
	// passes every one on unchanged: for putting the gateway in front of a
	// live handler before it enforces anything.
	ModeReport = "report"
)

// Dedupe backends.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
	BackendOff    = "off"
)

// What the handler does when the dedupe store cannot answer.
const (
	// OnErrorClosed answers 503 with Retry-After and forwards nothing: the
	// sender retries later. No event is delivered twice, and none is lost
	// as long as the sender keeps retrying until the store is back.
	OnErrorClosed = "closed"
	// OnErrorOpen forwards without dedupe, logging each such event at error
	// level and counting it in scgate_dedupe_fail_open_total: nothing waits
	// for the store, but retries may be delivered twice meanwhile.
	OnErrorOpen = "open"
)

// DefaultScheme is the scheme of a handler that names none.
const DefaultScheme = scheme.ScreenshotCenter

// DefaultSignatureHeaders are the headers searched for a signature, in order.
var DefaultSignatureHeaders = []string{webhook.HeaderSignature, webhook.HeaderSignatureAlt}

// Handler verifies, dedupes and forwards webhooks signed by one provider's
// scheme (ScreenshotCenter by default; see Scheme). It sits in
// front of an existing handler (usually reverse_proxy) and passes on only
// correctly signed, well-formed, first-seen events, with the body byte for
// byte and every original header, signature included. The request path is
// in handler.go; this file holds the configuration and all of its rules.
//
// This handler sets these placeholders:
//
// Placeholder | Description
// ------------|-------------
// `{http.screenshotcenter_webhook.event}` | The event type (after verification): from the body, or the scheme's event header for github and shopify.
// `{http.screenshotcenter_webhook.id}` | The signed id of the event, if the scheme has one (screenshot_id or batch_id, Stripe's id, webhook-id, Discord's id).
// `{http.screenshotcenter_webhook.screenshot_id}` | The body's screenshot_id, if any.
// `{http.screenshotcenter_webhook.batch_id}` | The body's batch_id, if any.
// `{http.screenshotcenter_webhook.created_at}` | The body's created_at, if any.
// `{http.screenshotcenter_webhook.<field>}` | Each other signed field of the scheme (README, Providers).
// `{http.screenshotcenter_webhook.body_sha256}` | The SHA-256 of the body, in hex.
// `{http.screenshotcenter_webhook.dedupe_key}` | The dedupe key of the event.
// `{http.screenshotcenter_webhook.secret_index}` | Index (from 0) of the secret that matched.
// `{http.screenshotcenter_webhook.delivery_id}` | The inbox entry of a queued event.
// `{http.screenshotcenter_webhook.outcome}` | forwarded, queued, upstream_failed, duplicate, in_flight, ignored, rejected or unavailable.
// `{http.screenshotcenter_webhook.reason}` | The reason code of a rejection.
// `{http.screenshotcenter_webhook.mode}` | enforce or report (then outcome and reason say what enforce would have done).
type Handler struct {
	// Name names this endpoint in the metrics (the endpoint label) and the
	// config errors. Default: the dedupe namespace, or "default".
	Name string `json:"name,omitempty"`

	// Mode is "enforce" (the default: only valid, first-seen events are
	// forwarded) or "report": every request is checked exactly as in
	// enforce (signature, body, dedupe lookup, events, max_age), counted
	// (with mode="report" in the metrics) and logged with what would have
	// happened, but passed on unchanged, bad signatures, duplicates and
	// copies in flight included. Dedupe state is kept as in enforce
	// (committed after the upstream's 2xx), so duplicates are reported
	// truthfully and switching to enforce goes on seamlessly. Every config
	// load warns while it is on.
	Mode string `json:"mode,omitempty"`

	// Scheme is how the provider signs its webhooks: "screenshotcenter"
	// (the default), "github", "stripe", "standard" (Standard Webhooks and
	// Svix), "shopify", "slack" or "discord". It decides the signature
	// headers, the signed content, the format of each secret, where the
	// event type and id come from (an unsigned header for github and
	// shopify: the README's Providers table says which), the fields a key
	// template may read and the default dedupe key. Every other option
	// applies to every scheme.
	Scheme string `json:"scheme,omitempty"`

	// Secrets are the signing secrets (for discord, the application's
	// public keys); a signature made with any of them is accepted (list
	// the new one next to the old one while rotating). At least one is
	// required. Their format is the scheme's: a shared secret of 16 bytes
	// or more used as written (screenshotcenter, github, shopify, slack),
	// Stripe's whsec_ string used as is, Standard Webhooks' whsec_ base64
	// (decoded), Discord's hex Ed25519 public key. Each may be a placeholder such
	// as `{env.SCREENSHOTCENTER_WEBHOOK_SECRET}` or `{file./run/secrets/x}`,
	// resolved when the config is provisioned, so the secret itself does not
	// appear in the config. Only {env.*}, {file.*} and literal text may
	// make a secret: any other placeholder ({system.os}, {time.now.year})
	// gives a guessable value. Such a placeholder, an unknown one (a typo
	// would otherwise leave its text as a guessable secret), one that
	// resolves empty, even in part, and a resolved secret shorter than 16
	// bytes or only whitespace are config errors, never an open gate;
	// write a literal brace as `\{`. A secret of the wrong format for the
	// scheme is a config error naming its index. Secrets are never logged.
	Secrets []string `json:"secrets,omitempty"`

	// SignatureHeaders are the request headers searched for the signature,
	// in order; the first one present is used. A header may hold several
	// comma- or space-separated sha256= values; any match passes. Scheme
	// screenshotcenter only (the other schemes' headers are fixed).
	// Default: X-ScreenshotCenter-Signature, X-Signature.
	SignatureHeaders []string `json:"signature_headers,omitempty"`

	// MaxBody is the largest accepted body, in bytes. Larger requests are
	// answered 413 without being read past the limit. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// BodyTimeout bounds the time to read the whole body, counted from
	// when the handler starts reading it; a body that takes longer is
	// answered 408 (body_timeout), so a client trickling its body cannot
	// hold a buffer (and a connection) for long. Pair it with the server's
	// `timeouts { read_header 10s idle 2m }` for the rest of the
	// connection. Default: 10s.
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty"`

	// BodyMinRate is the lowest average rate a body may arrive at, in
	// bytes per second: the n-th byte must have arrived 2 seconds plus
	// n/BodyMinRate seconds after the gateway started reading, or the body
	// is answered 408 (body_too_slow) at once, not only at body_timeout. A
	// client that declares a body and sends nothing, or trickles it, holds
	// its connection about 2 seconds instead of body_timeout. A body that
	// keeps up the rate is never cut off by it, whatever its size
	// (body_timeout still bounds it). 16 KiB per second is 128 kbit/s: a
	// sender on a slower link needs a lower value. Default: 16 KiB (per
	// second).
	BodyMinRate int64 `json:"body_min_rate,omitempty"`

	// MaxBuffered bounds the body bytes buffered by every
	// screenshotcenter_webhook handler of the process at once, in bytes.
	// The signature covers the whole body, so each body is buffered before
	// it is checked; past this budget a body is answered 503 with
	// Retry-After (buffer_full) instead of growing memory, whatever clients
	// do. A body holds budget only for bytes it has sent (its buffer is at
	// most twice what arrived, or 1 KiB), never for a declared
	// Content-Length. Shared by the process: the value of the config that
	// last started applies. Default: 64 MiB.
	MaxBuffered int64 `json:"max_buffered,omitempty"`

	// MaxBufferedPerClient bounds the part of max_buffered that the bodies
	// of one client hold at once, in bytes; past it that client's next
	// body is answered 503 with Retry-After (client_buffer_full), and the
	// other clients' bodies still fit. A client is its address as Caddy
	// determines it (client_ip: behind a load balancer, list it in the
	// server's trusted_proxies, or every client counts as the balancer);
	// IPv6 addresses count by /64. It must be at least max_body and at
	// most max_buffered. Shared by the process like max_buffered. Default:
	// max_buffered / 16 (4 MiB), at least max_body.
	MaxBufferedPerClient int64 `json:"max_buffered_per_client,omitempty"`

	// MaxStreamsPerConnection bounds the bodies of one HTTP/2 or HTTP/3
	// connection (and client, behind a trusted proxy) the gateway reads at
	// once: past it a stream is answered 503 with Retry-After
	// (too_many_streams) at once instead of waiting for its body, so one
	// connection cannot keep hundreds of streams waiting (Go's HTTP/2
	// server allows 250 per connection and Caddy has no option to lower
	// it; a server that needs no HTTP/2 can turn it off with `protocols
	// h1`). Only the time a body takes to arrive counts, not the upstream's.
	// Shared by the process like max_buffered. Default: 16.
	MaxStreamsPerConnection int `json:"max_streams_per_connection,omitempty"`

	// Events, if set, is the allowlist of event names to forward. Other
	// correctly signed events are answered 200 and dropped, so the sender
	// stops retrying an event nobody wants. Default: all events.
	Events []string `json:"events,omitempty"`

	// MaxAge is the replay window on the signed time of an event: one
	// signed longer ago than this, or more than five minutes in the
	// future, or without its signed time, is rejected with 401. For
	// screenshotcenter it applies to the body's created_at, and only when
	// set (keep it longer than the sender's whole retry schedule, or late
	// retries are refused). The schemes that sign a timestamp in a header
	// (stripe, standard, slack, discord; timestamp_* reasons) always check
	// it, by default 5m, as their own libraries do: the provider signs
	// each retry anew. github and shopify sign no time and refuse it.
	// Default: 0 for screenshotcenter (no check), 5m for the timestamped
	// schemes.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// Reencode makes the gateway forward the body the way a handler's
	// runtime re-serialises it, for handlers that verify the signature over
	// that re-serialisation instead of the raw bytes (the vendor's Express
	// sample verifies JSON.stringify(req.body)): "js" is
	// JSON.stringify(JSON.parse(body)) in Node.js, "python" is
	// json.dumps(json.loads(body)) with Python 3 defaults, "php" is
	// json_encode(json_decode($body)) with PHP 8 defaults. Every check runs
	// on the original bytes first; the forwarded body is then signed again
	// (sha256=, in each configured signature header the request carried)
	// with the secret that verified the original, its Content-Length set,
	// and X-Scgate-Reencoded names the style. Every secret must be able to
	// sign: a public key (discord, standard's whpk_) is a config error. A body the runtime itself
	// cannot process (PHP and a lone surrogate, say) is answered 422 with a
	// reencode_* reason and not forwarded. Default: off, the body is
	// forwarded byte for byte with its original signature.
	Reencode string `json:"reencode,omitempty"`

	// Dedupe configures how retried events are recognized. Default: the
	// memory backend with its defaults.
	Dedupe *DedupeConfig `json:"dedupe,omitempty"`

	// EventLog is how many answered requests the process's event log
	// holds: one entry per request this handler answers (time, endpoint,
	// outcome, reason code, event, ids, dedupe key, statuses, upstream
	// latency, remote address; never a body, a signature or a secret),
	// read through the admin API (GET /scgate/events) and `scgate events`.
	// The log is one ring shared by every handler of the process and kept
	// across reloads; the largest event_log of the config that last
	// started sizes it, and the oldest entries make room for new ones. -1
	// (`event_log off`) records nothing from this handler. At most
	// 1000000. Default: 10000.
	EventLog int `json:"event_log,omitempty"`

	// Inbox, if set, makes the handler answer the provider itself instead
	// of passing events on: a verified, first-seen event is written
	// durably (fsync to a local inbox file, or a JetStream publish ack
	// with backend nats), its dedupe key committed,
	// and only then answered 202 {"outcome":"queued","delivery":"<id>"};
	// workers then deliver it to DeliverTo with retries. No handler after
	// this one is needed: a queued event never reaches one. An event the
	// inbox cannot store is answered 503 with Retry-After
	// (inbox_unavailable) and its claim released, so nothing is
	// acknowledged that is not on disk. Not with mode report. Default:
	// none (pass-through: events go to the next handler).
	Inbox *InboxConfig `json:"inbox,omitempty"`

	checker *gateway.Checker
	metrics *handlerMetrics
	report  bool
	// reencode is Reencode parsed; zero when off.
	reencode reencode.Style
	keyer    gateway.Keyer
	store    dedupe.Store
	// flow claims, delivers and settles the events that pass the checks.
	flow *flow.Flow
	app  *App
	// poolKey names this handler's store (or Redis client) in the stores
	// usage pool; empty when it holds none.
	poolKey string
	logger  *zap.Logger
	// inbox is the pooled inbox of the Inbox setting (nil without), and
	// inboxSettings what this config sets on it when it starts. inboxRef
	// is its pool key while this handler holds a reference in the pool
	// (Cleanup drops it; inbox stays set for requests still in flight).
	inbox         *pooledInbox
	inboxSettings inbox.Settings
	inboxRef      string
	// orderBy is Inbox.OrderBy parsed; nil when not set.
	orderBy *gateway.KeyTemplate
}

// InboxConfig configures a Handler's inbox: where events are delivered,
// how often and how fast.
type InboxConfig struct {
	// DeliverTo is the absolute http or https URL every queued event is
	// POSTed to: the exact body (or, with reencode, the re-encoding, signed
	// again) and the original request's headers with the original
	// signature, minus hop-by-hop headers, plus X-Scgate-Verified,
	// X-Scgate-Dedupe-Key, X-Scgate-Delivery-Id and
	// X-Scgate-Delivery-Attempt. A 2xx delivers, 410 stops, anything else
	// is retried on the schedule (a Retry-After on 429 and 503 is
	// honoured); redirects are not followed. It comes from the config
	// only and is trusted: loopback and private addresses are allowed
	// (the sender's SSRF guard protects its endpoints, not this). Each
	// attempt goes to the value of the config running when it starts.
	// Placeholders such as {env.APP_URL} are resolved at load. Required.
	DeliverTo string `json:"deliver_to,omitempty"`

	// Backend names the engine that holds the queue: "bolt", a bbolt
	// file on this gateway's disk (Store), one per gateway process; or
	// "nats", a NATS JetStream server (NATS) that every replica enqueues
	// to and delivers from, so that a replica whose disk is lost loses no
	// acknowledged event. With nats, order_by is refused, and concurrency
	// and rate apply per replica. Default: "bolt".
	Backend string `json:"backend,omitempty"`

	// NATS configures the nats backend: the server, the streams and the
	// credentials. Required with backend nats, refused with any other.
	NATS *InboxNATSConfig `json:"nats,omitempty"`

	// Store is the path of the inbox file (bbolt), one per gateway
	// process: bbolt locks it, and the config start of a second process
	// on it fails after waiting 10s for the lock. It holds the events'
	// bodies and forwarded headers (an Authorization header the provider
	// sent included) but no secret, and is created with mode 0600 in a
	// 0700 directory. Two handlers of one config cannot share a store.
	// Placeholders are resolved at load. Only with backend bolt.
	// Default: scgate/inbox.db in Caddy's data directory.
	Store string `json:"store,omitempty"`

	// Attempts is the attempt budget of an event, the first included;
	// then it is failed (a dead letter: kept for Retain, listed,
	// replayable). Default 18: with the default backoff, the last attempt
	// comes about 3 days after the first.
	Attempts int `json:"attempts,omitempty"`

	// Backoff lists the waits before the second, third, ... attempt; the
	// last one repeats, each is spread by ±20% and must be positive.
	// Default 10s 1m 5m 30m 2h 6h.
	Backoff []caddy.Duration `json:"backoff,omitempty"`

	// Timeout bounds one attempt, from connecting to reading the
	// response. Default 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Concurrency bounds the deliveries in flight to DeliverTo, so that a
	// backlog after an outage does not knock the application over again.
	// Default 8.
	Concurrency int `json:"concurrency,omitempty"`

	// Rate, if set, is a ceiling on the attempts started, retries
	// included: a number and a unit, "50/s", "600/m" or "3600/h".
	// Default: none.
	Rate string `json:"rate,omitempty"`

	// Burst is how many attempts Rate lets start at once after a pause.
	// Needs Rate. Default: a twentieth of the rate per second, at least 1.
	Burst int `json:"burst,omitempty"`

	// OrderBy, if set, is a key template of signed fields (as dedupe key,
	// e.g. {screenshot_id}): events with the same key are delivered one at
	// a time, in the order they were queued, and events of different keys
	// in parallel; a failing event holds back only its own key. An event
	// for which a field of the template is missing or empty has no order
	// key and is delivered without waiting for any other. Default: none
	// (every event in parallel, up to Concurrency).
	OrderBy string `json:"order_by,omitempty"`

	// Retain is how long delivered, failed and gone entries are kept,
	// counted from their last change, for listing and replay; then they
	// are purged with their bodies. Pending entries are never purged.
	// Default 168h (7 days).
	Retain caddy.Duration `json:"retain,omitempty"`
}

// Inbox backends.
const (
	InboxBackendBolt = "bolt"
	InboxBackendNATS = "nats"
)

// InboxNATSConfig configures the nats inbox backend: a NATS server with
// JetStream enabled, whose file-store streams hold the queue, the settled
// entries (dead letters included) and the attempt log. Gateways that name
// the same server and stream share one queue: any of them delivers any
// entry, one at a time. String fields accept placeholders, resolved at
// load; an unset variable or a missing file is an error.
type InboxNATSConfig struct {
	// URL is the NATS server, nats://host:port or tls://host:port, or
	// several of one cluster, comma-separated. User info in the URL is
	// accepted but not shown anywhere (the store is named without it);
	// prefer User and Password. Required.
	URL string `json:"url,omitempty"`

	// Stream is the base name of the streams: the queue is Stream, the
	// settled entries Stream_DELIVERED, Stream_GONE and Stream_FAILED,
	// the attempt log Stream_LOG. Default: SCGATE_INBOX.
	Stream string `json:"stream,omitempty"`

	// Subject is the subject prefix of the streams' messages (the queue
	// on Subject.q.<id>, the dead letters on Subject.failed.<id>); two
	// inboxes on one server need different ones (JetStream refuses
	// streams whose subjects overlap). Default: scgate.inbox, or
	// scgate.inbox.<stream in lower case> when Stream is set.
	Subject string `json:"subject,omitempty"`

	// Consumer is the name of the durable pull consumer the gateways
	// share. Default: Stream_deliver.
	Consumer string `json:"consumer,omitempty"`

	// Credentials is the path of a NATS credentials file (a user JWT and
	// its NKey seed, as `nsc` writes). At most one of Credentials, User
	// (with Password) and Token.
	Credentials string `json:"credentials,omitempty"`

	// User is the NATS user name; it needs Password.
	User string `json:"user,omitempty"`

	// Password is the NATS user's password. Write it as {env.NAME} or
	// {file./path} so that it is not in the config; it is never logged.
	Password string `json:"password,omitempty"`

	// Token is a NATS authentication token. Write it as {env.NAME} or
	// {file./path}; it is never logged.
	Token string `json:"token,omitempty"`

	// TLSCA is a PEM file of the CAs that sign the server's certificate,
	// instead of the system's; setting it makes the connection use TLS.
	TLSCA string `json:"tls_ca,omitempty"`

	// TLSCert and TLSKey are the PEM files of a client certificate and
	// its key, for servers that verify clients: both or neither.
	TLSCert string `json:"tls_cert,omitempty"`

	// TLSKey is the key of TLSCert.
	TLSKey string `json:"tls_key,omitempty"`

	// Replicas is how many servers of a JetStream cluster keep each
	// stream, 1 to 5; with 3 the publish ack, and so the 202, waits for
	// two of them. Default: 1.
	Replicas int `json:"replicas,omitempty"`
}

// DefaultInboxPath is the inbox file when Inbox.Store is not set:
// scgate/inbox.db in Caddy's data directory.
func DefaultInboxPath() string {
	return filepath.Join(caddy.AppDataDir(), "scgate", "inbox.db")
}

// DedupeConfig configures the dedupe store of a Handler.
type DedupeConfig struct {
	// Backend is "memory" (the default: one process, bounded, optionally
	// saved to a file with Persist), "redis" (Redis or Valkey, shared by
	// every gateway using the same server and Redis.KeyPrefix, so retries are
	// recognized behind a load balancer and across restarts) or "off" (every
	// valid event is forwarded, retries included; it takes no other dedupe
	// setting).
	Backend string `json:"backend,omitempty"`

	// TTL is how long a delivered key is remembered, so that retries within
	// it are answered as duplicates. Keep it longer than the sender's whole
	// retry schedule. Default: 72h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// InflightTimeout is how long a claim blocks copies of an event while
	// the upstream works on it (they get 409). After it a claim that was
	// neither committed nor released (a crashed gateway) lapses, and an
	// upstream call still running is cut off (504) and its claim released:
	// a client that hung up does not cancel the call, this bounds it. Keep
	// it longer than the upstream's slowest answer. Default: 60s.
	InflightTimeout caddy.Duration `json:"inflight_timeout,omitempty"`

	// MaxKeys bounds the memory backend, which never grows past it. When
	// it is full, the oldest delivered keys make room for new events (they
	// are the least likely to be retried; a retry of an evicted event is
	// forwarded again); claims in flight are never evicted, and a new event
	// is answered 503 with Retry-After only when every key is in flight.
	// Each key costs about 90 bytes. The memory store is shared by every
	// handler of the process: the bound of the config that last started
	// serving applies, and a config that fails to load never changes it.
	// Memory backend only. Default: 1000000.
	MaxKeys int `json:"max_keys,omitempty"`

	// EvictWarnAge is the age under which an evicted key is logged at warn
	// level: a key that young may still be retried by the sender (whose
	// schedule spans hours), and its retry would be forwarded again, so
	// raise max_keys. Every eviction is counted in
	// scgate_dedupe_evictions_total. Shared like MaxKeys. Memory backend
	// only. Default: 24h.
	EvictWarnAge caddy.Duration `json:"evict_warn_age,omitempty"`

	// Key is a template for the dedupe key, made of the scheme's signed
	// fields and `{body_sha256}` and literal text (a literal brace is
	// `\{`): for screenshotcenter `{event}`, `{screenshot_id}`,
	// `{batch_id}` and `{created_at}`; for the other schemes the README's
	// Providers table lists them (github and shopify sign no field but the
	// body: `{body_sha256}` only). Nothing
	// else is allowed: a request detail such as a header, the Host or the
	// path is not signed, and would let whoever replays a captured event
	// give it a new key. The template must contain a placeholder; an event
	// for which one of them is missing or empty is rejected with 400
	// (dedupe_key_unresolved), never given a key it would share with
	// unrelated events. Default: the event and its screenshot_id, else its
	// batch_id, else the SHA-256 of the body, encoded so that different
	// events never share a key (see gateway.DefaultKey).
	Key string `json:"key,omitempty"`

	// Namespace keeps apart the keys of different webhook endpoints that
	// share a store (the memory store is shared by every handler of the
	// process; a Redis server by every gateway using its key_prefix). It
	// comes from the configuration only, never from the request, so a
	// replayed event is a duplicate whatever Host or path it is sent to.
	// Placeholders such as {env.APP} are resolved when the config loads.
	// Default: none. Two handlers of one config that share a store and
	// would share keys because one of them sets no namespace are a config
	// error: give each endpoint its own namespace, or the same one to
	// handlers that are one endpoint (say the same application reached
	// through two sites). Gateways of other processes sharing a Redis
	// server cannot be checked: give different applications different
	// namespaces or key prefixes.
	Namespace string `json:"namespace,omitempty"`

	// OnError is what happens to an event while the store cannot answer
	// (Redis down, or slower than Redis.Timeout). "closed" (the default) answers
	// 503 with Retry-After and forwards nothing, so the sender retries
	// later: nothing is delivered twice, but nothing is delivered until the
	// store is back. "open" forwards the event without dedupe, logs it at
	// error level and counts it in scgate_dedupe_fail_open_total: delivery
	// goes on, but retries may reach the upstream twice meanwhile.
	OnError string `json:"on_error,omitempty"`

	// Persist is a file where the memory backend saves its delivered keys:
	// loaded when the first config using it starts (never by `scgate
	// validate`), written every PersistInterval and when the store is
	// released (process exit), each time to a temporary file renamed over
	// it, readable by its owner only. A missing file is a first start
	// (logged; the store starts empty); an empty, truncated, corrupt or
	// unreadable one fails the config's start with an error naming the
	// file and what to do (`scgate run` exits, a reload is refused and the
	// running config kept), and the file is left untouched. Keys in flight
	// are not saved. It may be a placeholder such as
	// `{env.SCGATE_SNAPSHOT}`. Memory backend only. Default: none (keys
	// live in memory only).
	Persist string `json:"persist,omitempty"`

	// PersistInterval is how often the memory backend writes Persist, so a
	// crash loses at most this much. The first config using a file sets it
	// for as long as the file stays in use. Needs Persist. Default: 1m.
	PersistInterval caddy.Duration `json:"persist_interval,omitempty"`

	// Redis configures the redis backend (required with it, refused with
	// the others).
	Redis *RedisConfig `json:"redis,omitempty"`
}

// RedisConfig configures the redis dedupe backend: Redis or Valkey, a
// single server, Sentinel or Redis Cluster.
type RedisConfig struct {
	// URL is the server of the redis backend:
	// redis://[user:password@]host:port/db, rediss:// for TLS, or
	// unix:///path/redis.sock; the query parameters dial_timeout,
	// write_timeout, client_name, protocol and addr (more Cluster seeds) are
	// accepted. Write it as a placeholder such as `{env.REDIS_URL}`
	// (resolved at provision) so a password does not appear in the config;
	// it is never logged. Set URL or Addresses, not both.
	URL string `json:"url,omitempty"`

	// Addresses are host:port addresses of the redis backend, instead of
	// URL: one is a single server, several are Redis Cluster seed nodes, and
	// with MasterName they are the Sentinels.
	Addresses []string `json:"addresses,omitempty"`

	// MasterName is the Sentinel master name; it needs Addresses.
	MasterName string `json:"master_name,omitempty"`

	// Username is the Redis ACL user, with Addresses (with URL, put it in
	// the URL). Placeholders are resolved at provision.
	Username string `json:"username,omitempty"`

	// Password is the Redis password, with Addresses (with URL, put it in
	// the URL). Write it as `{env.NAME}` or `{file./path}` so it does not
	// appear in the config; it is never logged.
	Password string `json:"password,omitempty"`

	// TLS makes the redis backend connect with TLS (1.2 or later, server
	// certificate verified), with Addresses. With URL, use rediss://.
	TLS bool `json:"tls,omitempty"`

	// KeyPrefix starts every Redis key the redis backend sets (followed by
	// 32 hex digits of a SHA-256 of the dedupe key, so event ids are not
	// stored). Gateways share dedupe when they share the server and the
	// prefix. Default: "scgate:".
	KeyPrefix string `json:"key_prefix,omitempty"`

	// Timeout bounds each redis backend operation (claim, commit, release),
	// connecting included. A claim that takes longer is a store error,
	// answered by OnError. After three failed operations in a row the store
	// fails at once, without waiting, until a probe (every 50ms) gets an
	// answer; a commit that fails is retried in the background. Default:
	// 250ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.screenshotcenter_webhook",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision checks the config (the same rules for JSON and the Caddyfile,
// whose parser only parses), sets defaults, resolves secrets and gets the
// dedupe store from the usage pool. It contacts no Redis server and opens
// no snapshot (it reads only the files that {file.*} placeholders name): a
// store starts, connecting to Redis or loading its snapshot, when a config
// using it starts (App.Start), so `scgate validate` and a reload that Caddy
// rejects before it starts touch neither.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	opts, err := h.check()
	if err != nil {
		return err
	}
	h.setDefaults()
	// Resolved first: it is the metrics' endpoint label too.
	if h.Dedupe.Namespace != "" {
		ns, err := placeholder.Field("dedupe namespace", h.Dedupe.Namespace)
		if err != nil {
			return err
		}
		if strings.ContainsFunc(ns, unicode.IsControl) {
			return errors.New("dedupe namespace must not contain control characters")
		}
		h.keyer.Namespace = ns
	}

	// A secret that did not load must never open the gate: see
	// secret.Resolve. Its format (length, prefix, encoding) is the
	// scheme's to check, in scheme.New.
	secrets := make([][]byte, len(h.Secrets))
	for i, s := range h.Secrets {
		v, err := secret.ResolveValue(s)
		if err != nil {
			return scheme.SecretError(i, err)
		}
		secrets[i] = v
		if secret.IsLiteral(s) {
			h.logger.Warn("secret written into the config: "+secret.Advice, zap.Int("secret", i))
		}
	}
	h.report = h.Mode == ModeReport
	if h.report {
		h.logger.Warn("mode report: nothing is refused; every request is checked, counted and logged, and passed on unchanged (switch to mode enforce once the metrics show only expected refusals)",
			zap.String("endpoint", h.endpoint()))
	}
	h.metrics = newHandlerMetrics(h.endpoint(), h.Mode, len(secrets))
	sc, err := scheme.New(h.Scheme, scheme.Config{
		Secrets: secrets, SignatureHeaders: h.SignatureHeaders, MaxAge: time.Duration(h.MaxAge)})
	if err != nil {
		return err
	}
	if h.Reencode != "" {
		// The re-encoded body is signed with the secret that matched.
		if err := scheme.CheckCanSign(sc, len(secrets)); err != nil {
			return fmt.Errorf("reencode signs the re-encoded body, and %w", err)
		}
	}
	var events map[string]struct{}
	if len(h.Events) > 0 {
		events = make(map[string]struct{}, len(h.Events))
		for _, e := range h.Events {
			events[e] = struct{}{}
		}
	}
	h.checker = &gateway.Checker{
		Scheme:      sc,
		MaxBody:     h.MaxBody,
		Events:      events,
		Budget:      &bodyBudget,
		Streams:     &bodyStreams,
		BodyTimeout: time.Duration(h.BodyTimeout),
		MinRate:     h.BodyMinRate,
	}
	h.keyer.Scheme = sc
	h.keyer.Template = opts.key
	h.reencode = opts.reencode

	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if err := h.openStore(); err != nil {
		return err
	}
	if h.Inbox != nil {
		if err := h.provisionInbox(opts); err != nil {
			return err
		}
	}
	h.flow = &flow.Flow{
		Store:           h.store,
		Keyer:           &h.keyer,
		InflightTimeout: time.Duration(h.Dedupe.InflightTimeout),
		TTL:             time.Duration(h.Dedupe.TTL),
		OnErrorOpen:     h.Dedupe.OnError == OnErrorOpen,
		Logger:          h.logger,
		Observe:         h.observeStore,
	}
	if h.app == nil {
		app, err := ctx.App(appID)
		if err != nil {
			return err
		}
		h.app = app.(*App)
	}
	if err := h.app.register(h); err != nil {
		return err
	}
	if h.Dedupe.Backend == BackendOff {
		h.logger.Warn("dedupe is off: every valid delivery is forwarded, retries included")
	}
	return nil
}

// Validate reports what Provision did not get done; the rules themselves
// are checked (once) in Provision.
func (h *Handler) Validate() error {
	if _, err := h.check(); err != nil {
		return err
	}
	if h.checker == nil {
		return errors.New("secrets were not loaded")
	}
	if h.Dedupe.Backend != BackendOff && h.store == nil {
		return errors.New("dedupe store was not provisioned")
	}
	if h.Inbox != nil && h.inbox == nil {
		return errors.New("inbox was not provisioned")
	}
	return nil
}

// Cleanup releases this config's references to the dedupe store and the
// inbox. Both outlive a reload: the new config holds its own references
// before this runs. Cleanup is safe on a half-provisioned handler and when
// repeated.
func (h *Handler) Cleanup() error {
	var err error
	if h.inboxRef != "" {
		path := h.inboxRef
		h.inboxRef = ""
		_, err = inboxes.Delete(path)
	}
	if h.poolKey == "" {
		return err
	}
	key := h.poolKey
	h.poolKey = ""
	_, serr := stores.Delete(key)
	return errors.Join(err, serr)
}

// parsedOptions are the options written as text that check parsed:
// Provision keeps them, so that each is parsed once, in check.
type parsedOptions struct {
	// key is Dedupe.Key parsed; nil when not set.
	key *gateway.KeyTemplate
	// reencode is Reencode parsed; zero when off.
	reencode reencode.Style
	// orderBy is Inbox.OrderBy parsed; nil when not set.
	orderBy *gateway.KeyTemplate
	// rate is Inbox.Rate parsed, in attempts per second; 0: no ceiling.
	rate float64
}

// check holds every rule of the config, for JSON configs and the Caddyfile
// alike, and returns the options it parsed. It runs before the defaults
// are set (so it can tell what was given) and again, idempotently, in
// Validate.
func (h *Handler) check() (parsedOptions, error) {
	var opts parsedOptions
	err := h.checkInto(&opts)
	return opts, err
}

// checkInto is check, filling opts as it parses.
func (h *Handler) checkInto(opts *parsedOptions) error {
	if len(h.Secrets) == 0 {
		return errors.New("at least one secret is required")
	}
	name := h.schemeName()
	if !slices.Contains(scheme.Names(), name) {
		return fmt.Errorf("scheme must be one of %s, got %q", strings.Join(scheme.Names(), ", "), h.Scheme)
	}
	if len(h.SignatureHeaders) > 0 && name != scheme.ScreenshotCenter {
		return fmt.Errorf("signature_header applies to scheme screenshotcenter only: scheme %s reads its own headers", name)
	}
	switch h.Mode {
	case "", ModeEnforce, ModeReport:
	default:
		return fmt.Errorf("mode must be enforce or report, got %q", h.Mode)
	}
	if h.MaxBody < 0 {
		return fmt.Errorf("max_body must be positive, got %d", h.MaxBody)
	}
	if h.BodyTimeout < 0 {
		return errors.New("body_timeout must be positive")
	}
	if h.MaxBuffered < 0 {
		return fmt.Errorf("max_buffered must be positive, got %d", h.MaxBuffered)
	}
	if h.MaxBuffered > 0 && h.MaxBuffered < h.MaxBody {
		return fmt.Errorf("max_buffered (%d) must be at least max_body (%d), or no body of the largest size could be read", h.MaxBuffered, h.MaxBody)
	}
	if h.BodyMinRate < 0 {
		return fmt.Errorf("body_min_rate must be positive, got %d", h.BodyMinRate)
	}
	if h.MaxBufferedPerClient < 0 {
		return fmt.Errorf("max_buffered_per_client must be positive, got %d", h.MaxBufferedPerClient)
	}
	if h.MaxBufferedPerClient > 0 && h.MaxBufferedPerClient < h.MaxBody {
		return fmt.Errorf("max_buffered_per_client (%d) must be at least max_body (%d), or no client could send a body of the largest size", h.MaxBufferedPerClient, h.MaxBody)
	}
	if h.MaxBuffered > 0 && h.MaxBufferedPerClient > h.MaxBuffered {
		return fmt.Errorf("max_buffered_per_client (%d) must be at most max_buffered (%d)", h.MaxBufferedPerClient, h.MaxBuffered)
	}
	if h.MaxStreamsPerConnection < 0 {
		return fmt.Errorf("max_streams_per_connection must be positive, got %d", h.MaxStreamsPerConnection)
	}
	if h.MaxAge < 0 {
		return errors.New("max_age must not be negative")
	}
	if h.EventLog < EventLogOff || h.EventLog > MaxEventLog {
		return fmt.Errorf("event_log must be between 1 and %d entries, or off (-1), got %d", MaxEventLog, h.EventLog)
	}
	for _, name := range h.SignatureHeaders {
		if strings.TrimSpace(name) == "" {
			return errors.New("signature_header names must not be empty")
		}
	}
	for _, e := range h.Events {
		if e == "" {
			return errors.New("events must not contain an empty name")
		}
	}
	if h.Reencode != "" {
		st, err := reencode.ParseStyle(h.Reencode)
		if err != nil {
			return fmt.Errorf("reencode must be js, python or php, got %q", h.Reencode)
		}
		opts.reencode = st
	}
	if h.Inbox != nil {
		if h.Mode == ModeReport {
			return errors.New("inbox cannot be used with mode report: report passes every request on to the next handler, and the inbox answers events itself")
		}
		if err := h.Inbox.check(name, opts); err != nil {
			return err
		}
	}
	if h.Dedupe == nil {
		return nil
	}
	return h.Dedupe.check(name, opts)
}

// check holds the rules of the inbox settings that do not depend on
// resolving placeholders (provisionInbox checks deliver_to once
// resolved), keeping the rate and order_by it parses in opts.
func (c *InboxConfig) check(schemeName string, opts *parsedOptions) error {
	if c.DeliverTo == "" {
		return errors.New("inbox deliver_to is required: the URL events are delivered to")
	}
	switch c.Backend {
	case "", InboxBackendBolt:
		if c.NATS != nil {
			return errors.New("inbox nats settings need backend nats")
		}
	case InboxBackendNATS:
		if c.Store != "" {
			return errors.New("inbox store is the bbolt file: it cannot be used with backend nats (the queue is in the NATS streams)")
		}
		if c.OrderBy != "" {
			return errors.New("inbox order_by cannot be used with backend nats: a shared queue hands consecutive events of one key to different gateways")
		}
		if c.NATS == nil {
			return errors.New("inbox backend nats needs its settings, the url at least")
		}
		if err := c.NATS.check(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("inbox backend must be bolt or nats, got %q", c.Backend)
	}
	if c.Attempts < 0 || c.Concurrency < 0 || c.Burst < 0 {
		return errors.New("inbox attempts, concurrency and burst must be positive")
	}
	if c.Timeout < 0 || c.Retain < 0 {
		return errors.New("inbox timeout and retain must be positive")
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			return errors.New("inbox backoff durations must be positive")
		}
	}
	rate, err := parseRate(c.Rate)
	if err != nil {
		return err
	}
	opts.rate = rate
	if c.Burst != 0 && c.Rate == "" {
		return errors.New("inbox burst needs rate")
	}
	if c.OrderBy != "" {
		t, err := gateway.ParseKeyTemplate(c.OrderBy, scheme.FieldNames(schemeName))
		if err != nil {
			return fmt.Errorf("inbox order_by: %w", err)
		}
		opts.orderBy = t
	}
	return nil
}

// check holds the rules of the nats backend's settings.
func (n *InboxNATSConfig) check() error {
	if strings.TrimSpace(n.URL) == "" {
		return errors.New("inbox backend nats needs a url, such as nats://127.0.0.1:4222")
	}
	auth := 0
	for _, set := range []bool{n.Credentials != "", n.User != "" || n.Password != "", n.Token != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		return errors.New("inbox backend nats: set at most one of credentials, user with password, and token")
	}
	if (n.User == "") != (n.Password == "") {
		return errors.New("inbox backend nats: user and password go together")
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		return errors.New("inbox backend nats: tls_cert and tls_key go together")
	}
	if n.Replicas < 0 || n.Replicas > 5 {
		return fmt.Errorf("inbox backend nats: replicas must be 1 to 5, got %d", n.Replicas)
	}
	for _, f := range []struct{ name, v string }{{"stream", n.Stream}, {"consumer", n.Consumer}} {
		if strings.ContainsAny(f.v, ".*> \t\r\n/\\") {
			return fmt.Errorf("inbox backend nats: %s %q may not contain '.', '*', '>', '/', '\\' or white space", f.name, f.v)
		}
	}
	if strings.ContainsAny(n.Subject, "*> \t\r\n") || strings.HasPrefix(n.Subject, ".") || strings.HasSuffix(n.Subject, ".") || strings.Contains(n.Subject, "..") {
		return fmt.Errorf("inbox backend nats: subject %q must be a literal dotted subject, such as scgate.inbox", n.Subject)
	}
	return nil
}

// parseRate reads an inbox rate, "<n>/s", "<n>/m" or "<n>/h", as
// attempts per second; "" is 0 (no ceiling).
func parseRate(v string) (float64, error) {
	if v == "" {
		return 0, nil
	}
	num, unit, ok := strings.Cut(v, "/")
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || per == 0 || err != nil || !(n > 0) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("inbox rate must be a positive number of attempts per s, m or h, such as 50/s, got %q", v)
	}
	return n / per, nil
}

// provisionInbox resolves the inbox's placeholders, makes the settings
// this config sets when it starts, and gets the inbox of its file from the
// pool, which opens nothing: the file is opened when the config starts
// (App.Start), so `scgate validate` creates and locks no file.
func (h *Handler) provisionInbox(opts parsedOptions) error {
	c := h.Inbox
	dest, err := placeholder.Field("inbox deliver_to", c.DeliverTo)
	if err != nil {
		return err
	}
	if err := sender.CheckURL(dest); err != nil {
		return fmt.Errorf("inbox deliver_to must be an absolute http or https URL, got %q", dest)
	}
	backend, err := c.backend()
	if err != nil {
		return err
	}
	st := inbox.Settings{
		Destination: dest,
		Attempts:    c.Attempts,
		Timeout:     time.Duration(c.Timeout),
		Concurrency: c.Concurrency,
		Rate:        opts.rate,
		Burst:       c.Burst,
		Retain:      time.Duration(c.Retain),
	}
	for _, d := range c.Backoff {
		st.Backoff = append(st.Backoff, time.Duration(d))
	}
	if st.Retain == 0 {
		st.Retain = inbox.DefaultRetain
	}
	h.inboxSettings = st
	h.orderBy = opts.orderBy
	h.inbox, h.inboxRef = loadInbox(backend), backend.key()
	return nil
}

// backend resolves the placeholders of the inbox's engine settings.
func (c *InboxConfig) backend() (inboxBackend, error) {
	if c.Backend == InboxBackendNATS {
		return newNATSInbox(c.NATS)
	}
	path := c.Store
	if path == "" {
		path = DefaultInboxPath()
	}
	path, err := placeholder.Field("inbox store", path)
	if err != nil {
		return nil, err
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	return boltInbox{path: path}, nil
}

// schemeName is Scheme, or the default one.
func (h *Handler) schemeName() string {
	if h.Scheme == "" {
		return DefaultScheme
	}
	return h.Scheme
}

// check holds the rules of the dedupe settings of a handler of the named
// scheme, keeping the key template it parses in opts.
func (d *DedupeConfig) check(schemeName string, opts *parsedOptions) error {
	backend := d.Backend
	if backend == "" {
		backend = BackendMemory
	}
	switch backend {
	case BackendMemory, BackendRedis:
	case BackendOff:
		if d.TTL != 0 || d.InflightTimeout != 0 || d.MaxKeys != 0 || d.EvictWarnAge != 0 || d.Key != "" || d.Namespace != "" ||
			d.OnError != "" || d.Persist != "" || d.PersistInterval != 0 || d.Redis != nil {
			// They would be ignored; an operator would not notice until
			// retries reach the application twice.
			return errors.New("dedupe off takes no other dedupe settings")
		}
	default:
		return fmt.Errorf("unknown dedupe backend %q (want memory, redis or off)", d.Backend)
	}
	if d.TTL < 0 || d.InflightTimeout < 0 {
		return errors.New("dedupe ttl and inflight_timeout must be positive")
	}
	if d.Key != "" {
		t, err := gateway.ParseKeyTemplate(d.Key, scheme.FieldNames(schemeName))
		if err != nil {
			return fmt.Errorf("dedupe %w", err)
		}
		opts.key = t
	}
	switch d.OnError {
	case "", OnErrorClosed, OnErrorOpen:
	default:
		return fmt.Errorf("dedupe on_error must be closed or open, got %q", d.OnError)
	}
	// Settings of another backend would be ignored: refuse them, since an
	// operator would not notice until events are duplicated.
	if backend != BackendMemory {
		for _, o := range []struct {
			name string
			set  bool
		}{{"max_keys", d.MaxKeys != 0}, {"evict_warn_age", d.EvictWarnAge != 0}, {"persist", d.Persist != ""}, {"persist_interval", d.PersistInterval != 0}} {
			if o.set {
				return fmt.Errorf("dedupe %s applies to the memory backend, not %s", o.name, backend)
			}
		}
	}
	if backend != BackendRedis && d.Redis != nil {
		return fmt.Errorf("dedupe redis settings apply to the redis backend, not %s", backend)
	}
	if d.MaxKeys < 0 {
		return errors.New("dedupe max_keys must be positive")
	}
	if d.EvictWarnAge < 0 {
		return errors.New("dedupe evict_warn_age must be positive")
	}
	if d.PersistInterval < 0 {
		return errors.New("dedupe persist_interval must be positive")
	}
	if d.PersistInterval != 0 && d.Persist == "" {
		return errors.New("dedupe persist_interval needs persist")
	}
	if backend == BackendRedis {
		if d.Redis == nil {
			return dedupe.ErrRedisNoServer
		}
		return d.Redis.check()
	}
	return nil
}

// check holds the rules of the redis settings that do not depend on
// resolving placeholders (dedupe.RedisOptions.Check has those).
func (r *RedisConfig) check() error {
	if r.URL == "" && len(r.Addresses) == 0 {
		return dedupe.ErrRedisNoServer
	}
	if r.Timeout < 0 {
		return errors.New("dedupe redis timeout must be positive")
	}
	if r.MasterName != "" && len(r.Addresses) == 0 {
		return dedupe.ErrRedisMasterNameNeedsAddrs
	}
	return nil
}

// setDefaults fills what the config left out; check has passed.
func (h *Handler) setDefaults() {
	if h.Mode == "" {
		h.Mode = ModeEnforce
	}
	if h.Scheme == "" {
		h.Scheme = DefaultScheme
	}
	if len(h.SignatureHeaders) == 0 && h.Scheme == scheme.ScreenshotCenter {
		h.SignatureHeaders = DefaultSignatureHeaders
	}
	if h.MaxBody == 0 {
		h.MaxBody = webhook.DefaultMaxBody
	}
	if h.BodyTimeout == 0 {
		h.BodyTimeout = caddy.Duration(DefaultBodyTimeout)
	}
	if h.MaxBuffered == 0 {
		h.MaxBuffered = max(DefaultMaxBuffered, h.MaxBody)
	}
	if h.BodyMinRate == 0 {
		h.BodyMinRate = DefaultBodyMinRate
	}
	if h.MaxBufferedPerClient == 0 {
		h.MaxBufferedPerClient = max(h.MaxBuffered/defaultClientShares, h.MaxBody)
	}
	if h.MaxStreamsPerConnection == 0 {
		h.MaxStreamsPerConnection = DefaultMaxStreamsPerConnection
	}
	if h.EventLog == 0 {
		h.EventLog = DefaultEventLog
	}
	if h.Dedupe == nil {
		h.Dedupe = new(DedupeConfig)
	}
	d := h.Dedupe
	if d.Backend == "" {
		d.Backend = BackendMemory
	}
	if d.Backend == BackendOff {
		return
	}
	if d.TTL == 0 {
		d.TTL = caddy.Duration(DefaultTTL)
	}
	if d.InflightTimeout == 0 {
		d.InflightTimeout = caddy.Duration(DefaultInflightTimeout)
	}
	switch d.Backend {
	case BackendMemory:
		if d.MaxKeys == 0 {
			d.MaxKeys = dedupe.DefaultMaxKeys
		}
		if d.EvictWarnAge == 0 {
			d.EvictWarnAge = caddy.Duration(DefaultEvictWarnAge)
		}
		if d.Persist != "" && d.PersistInterval == 0 {
			d.PersistInterval = caddy.Duration(DefaultPersistInterval)
		}
	case BackendRedis:
		if d.Redis.KeyPrefix == "" {
			d.Redis.KeyPrefix = DefaultKeyPrefix
		}
		if d.Redis.Timeout == 0 {
			d.Redis.Timeout = caddy.Duration(DefaultRedisTimeout)
		}
	}
}

// endpoint is the endpoint label of the handler's metrics.
func (h *Handler) endpoint() string {
	switch {
	case h.Name != "":
		return h.Name
	case h.keyer.Namespace != "":
		return h.keyer.Namespace // resolved at Provision
	case h.Dedupe != nil && h.Dedupe.Namespace != "":
		return h.Dedupe.Namespace
	}
	return "default"
}
