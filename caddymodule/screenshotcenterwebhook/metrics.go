package screenshotcenterwebhook

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scgate/scgate/caddymodule/internal/metrics"
	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/flow"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/recovery"
)

// Collectors are created once per process and registered in every config
// load's registry (Caddy makes a new registry per load), so counts go on
// across reloads. Every label is a bounded set: the endpoint (a handler's
// name or namespace, from the config), the mode, outcomes, reason codes,
// store operations and error kinds, never an event id.
var (
	metricRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "webhook", Name: "requests_total",
		Help: "Webhook requests handled by the gateway, by endpoint, mode and outcome (in report mode, what enforce would have done).",
	}, []string{"endpoint", "mode", "outcome"})
	metricRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "webhook", Name: "rejections_total",
		Help: "Webhook requests the gateway refused (or, in report mode, would have refused), by endpoint, mode and reason code.",
	}, []string{"endpoint", "mode", "reason"})
	metricSecretMatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "webhook", Name: "secret_matches_total",
		Help: "Verified requests by the index (from 0) of the secret that matched: an old secret whose count stops growing can be retired.",
	}, []string{"endpoint", "secret"})
	metricGatewayTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "scgate", Subsystem: "webhook", Name: "gateway_duration_seconds",
		Help:    "The gateway's own time per request, by phase: read (the body), verify, parse (and the other checks), store (claim and settle).",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 11), // 1µs to about 1s
	}, []string{"endpoint", "phase"})
	metricUpstreamTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "scgate", Subsystem: "webhook", Name: "upstream_duration_seconds",
		Help:    "Time the handlers after the gateway (the upstream) took to answer a forwarded event.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint"})
	metricStoreTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "scgate", Subsystem: "dedupe", Name: "operation_duration_seconds",
		Help:    "Dedupe store operations by endpoint and operation (claim, commit, release).",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 11),
	}, []string{"endpoint", "op"})
	metricStoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "dedupe", Name: "errors_total",
		Help: "Dedupe store operations that failed, by endpoint, operation and kind (full, commit_pending, timeout, unreachable, other).",
	}, []string{"endpoint", "op", "kind"})
	metricFailOpen = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "dedupe", Name: "fail_open_total",
		Help: "Events forwarded without dedupe because the store failed and on_error is open.",
	}, []string{"endpoint"})
	metricEvictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "dedupe", Name: "evictions_total",
		Help: "Delivered keys a full memory store evicted to make room for new events, by store.",
	}, []string{"store"})
	metricInboxAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate", Subsystem: "inbox", Name: "attempts_total",
		Help: "Inbox delivery attempts by endpoint, what they led to (delivered, retry, failed, gone, interrupted) and kind (2xx, 3xx, 4xx, 5xx, timeout, refused, error, interrupted).",
	}, []string{"endpoint", "outcome", "kind"})
	metricInboxLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "scgate", Subsystem: "inbox", Name: "delivery_duration_seconds",
		Help:    "Time from when an event was queued (or replayed) in the inbox to its delivery (2xx), retries included.",
		Buckets: []float64{.005, .025, .1, .5, 1, 5, 15, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600, 72 * 3600},
	}, []string{"endpoint"})
	metricBuffered = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "scgate", Subsystem: "webhook", Name: "buffered_bytes",
		Help: "Body bytes the process's gateways hold now for bodies being read and checked (bounded by max_buffered).",
	}, func() float64 { return float64(bodyBudget.Used()) })
)

func registerMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, recovery.Panics, metricRequests, metricRejections, metricSecretMatches, metricGatewayTime,
		metricUpstreamTime, metricStoreTime, metricStoreErrors, metricFailOpen, metricEvictions, metricBuffered, memoryKeys,
		metricInboxAttempts, metricInboxLatency, inboxStats)
}

// Phases of metricGatewayTime.
const (
	phaseRead   = "read"
	phaseVerify = "verify"
	phaseParse  = "parse"
	phaseStore  = "store"
)

// handlerMetrics are one handler's series, resolved once at provision so
// that a request costs no label hashing.
type handlerMetrics struct {
	outcomes               map[string]prometheus.Counter
	rejections             *prometheus.CounterVec // curried: reason left
	secrets                []prometheus.Counter
	read, verify, parse    prometheus.Observer
	store                  prometheus.Observer
	upstream               prometheus.Observer
	claim, commit, release prometheus.Observer
	storeErrors            *prometheus.CounterVec // curried: op, kind left
	failOpen               prometheus.Counter
}

func newHandlerMetrics(endpoint, mode string, secrets int) *handlerMetrics {
	m := &handlerMetrics{
		outcomes:    make(map[string]prometheus.Counter),
		rejections:  metricRejections.MustCurryWith(prometheus.Labels{"endpoint": endpoint, "mode": mode}),
		read:        metricGatewayTime.WithLabelValues(endpoint, phaseRead),
		verify:      metricGatewayTime.WithLabelValues(endpoint, phaseVerify),
		parse:       metricGatewayTime.WithLabelValues(endpoint, phaseParse),
		store:       metricGatewayTime.WithLabelValues(endpoint, phaseStore),
		upstream:    metricUpstreamTime.WithLabelValues(endpoint),
		claim:       metricStoreTime.WithLabelValues(endpoint, "claim"),
		commit:      metricStoreTime.WithLabelValues(endpoint, "commit"),
		release:     metricStoreTime.WithLabelValues(endpoint, "release"),
		storeErrors: metricStoreErrors.MustCurryWith(prometheus.Labels{"endpoint": endpoint}),
		failOpen:    metricFailOpen.WithLabelValues(endpoint),
	}
	for _, o := range flow.Outcomes {
		m.outcomes[o] = metricRequests.WithLabelValues(endpoint, mode, o)
	}
	for i := range secrets {
		m.secrets = append(m.secrets, metricSecretMatches.WithLabelValues(endpoint, strconv.Itoa(i)))
	}
	return m
}

// storeError counts a failed store operation by the kind of its error.
func (m *handlerMetrics) storeError(op string, err error) {
	m.storeErrors.WithLabelValues(op, errorKind(err)).Inc()
}

// errorKind sorts a store error for metricStoreErrors: a full store, a
// commit queued for a retry, a timeout, a server that cannot be reached
// (refused connections, or the breaker failing fast while it is down), or
// anything else.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, dedupe.ErrFull):
		return "full"
	case errors.Is(err, dedupe.ErrCommitPending):
		return "commit_pending"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, new(*net.OpError)), errors.Is(err, dedupe.ErrUnavailable):
		return "unreachable"
	}
	return "other"
}

// memoryKeys reports the keys each live memory store holds; it reads the
// stores at scrape time.
var memoryKeys = &memoryKeysCollector{
	desc: prometheus.NewDesc("scgate_dedupe_keys", "Keys a memory dedupe store holds (delivered and in flight), by store.", []string{"store"}, nil),
}

type memoryKeysCollector struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	stores map[string]*dedupe.MemoryStore // by pool key
}

func (c *memoryKeysCollector) add(name string, s *dedupe.MemoryStore) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stores == nil {
		c.stores = make(map[string]*dedupe.MemoryStore)
	}
	c.stores[name] = s
}

func (c *memoryKeysCollector) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.stores, name)
}

func (c *memoryKeysCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *memoryKeysCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.stores {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(s.Len()), name)
	}
}

// inboxStats reports the entries of each open inbox by state, and the age
// of its oldest pending entry (the alert for an application that is down);
// it reads the inboxes at scrape time.
var inboxStats = &inboxStatsCollector{
	entries: prometheus.NewDesc("scgate_inbox_entries", "Entries an inbox holds, by endpoint and state (pending, delivered, failed: dead letters, gone).", []string{"endpoint", "state"}, nil),
	oldest:  prometheus.NewDesc("scgate_inbox_oldest_pending_age_seconds", "How long the oldest pending entry of an inbox has waited since it was queued; 0 when none is pending.", []string{"endpoint"}, nil),
}

type inboxStatsCollector struct{ entries, oldest *prometheus.Desc }

func (c *inboxStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.oldest
}

func (c *inboxStatsCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	inboxes.Range(func(_, v any) bool {
		p := v.(*pooledInbox)
		in := p.get()
		if in == nil {
			return true
		}
		st, err := in.Stats()
		if err != nil {
			return true // closed meanwhile
		}
		endpoint := *p.endpoint.Load()
		for _, s := range inbox.States {
			ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Entries[s]), endpoint, string(s))
		}
		age := 0.0
		if !st.OldestPending.IsZero() {
			age = max(now.Sub(st.OldestPending).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, endpoint)
		return true
	})
}
