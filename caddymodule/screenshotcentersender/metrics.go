package screenshotcentersender

import (
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scgate/scgate/caddymodule/internal/metrics"
	"github.com/scgate/scgate/internal/recovery"
	"github.com/scgate/scgate/sender"
)

// The sender's metrics. Collectors are created once per process and
// registered in every config load's registry (Caddy makes a new registry
// per load). Every series has a host label: the host (and port) of an
// endpoint URL, a set bounded by the configs' endpoints (and the
// deliveries still kept from earlier configs); the other labels are fixed
// sets.
var (
	metricDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "sender",
		Name:      "deliveries_total",
		Help:      "Deliveries that reached a final state (delivered, failed, gone), by endpoint host.",
	}, []string{"host", "state"})
	metricAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "sender",
		Name:      "attempts_total",
		Help:      "Delivery attempts by endpoint host and outcome: the answer's status class (2xx, 3xx, 4xx, 5xx) or why none came (timeout, refused, blocked by the SSRF guard, error, interrupted).",
	}, []string{"host", "outcome"})
	descPending = prometheus.NewDesc("scgate_sender_pending_deliveries",
		"Deliveries waiting to be delivered (in an attempt or not), by endpoint host.", []string{"host"}, nil)
	descOldest = prometheus.NewDesc("scgate_sender_oldest_pending_age_seconds",
		"Age of the oldest pending delivery, from its creation, by endpoint host; 0 with none pending.", []string{"host"}, nil)
)

var (
	finalStates  = []sender.State{sender.StateDelivered, sender.StateFailed, sender.StateGone}
	attemptKinds = []string{sender.Kind2xx, sender.Kind3xx, sender.Kind4xx, sender.Kind5xx, sender.KindTimeout,
		sender.KindRefused, sender.KindBlocked, sender.KindError, sender.KindInterrupted}
)

// registerMetrics registers the sender's collectors in reg, a config's
// registry.
func registerMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, recovery.Panics, metricDeliveries, metricAttempts, backlogCollector{})
}

// initHostMetrics creates the counters of host at zero, so that a rate
// over them exists before the first delivery.
func initHostMetrics(host string) {
	for _, st := range finalStates {
		metricDeliveries.WithLabelValues(host, string(st))
	}
	for _, k := range attemptKinds {
		metricAttempts.WithLabelValues(host, k)
	}
}

// countAttempt is the sender's OnAttempt: it counts the attempt, and the
// delivery if the attempt ended it.
func countAttempt(d *sender.Delivery, a sender.Attempt) {
	host := endpointHost(d.URL)
	kind := a.Kind
	if kind == "" {
		kind = sender.KindError
	}
	metricAttempts.WithLabelValues(host, kind).Inc()
	switch a.Outcome {
	case sender.OutcomeDelivered, sender.OutcomeFailed, sender.OutcomeGone:
		metricDeliveries.WithLabelValues(host, string(d.State)).Inc()
	}
}

// endpointHost is the host label of an endpoint URL (or of an endpoint
// key, scheme://host).
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "invalid"
	}
	return strings.ToLower(u.Host)
}

// backlogCollector reports, when scraped, the pending deliveries of every
// open store, added up by host, with a zero for the configured hosts that
// have none.
type backlogCollector struct{}

// Describe implements prometheus.Collector.
func (backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPending
	ch <- descOldest
}

// Collect implements prometheus.Collector.
func (backlogCollector) Collect(ch chan<- prometheus.Metric) {
	type backlog struct {
		pending int
		oldest  time.Time
	}
	byHost := make(map[string]*backlog)
	at := func(host string) *backlog {
		if byHost[host] == nil {
			byHost[host] = new(backlog)
		}
		return byHost[host]
	}
	senders.Range(func(_, v any) bool {
		p, ok := v.(*pooledSender)
		if !ok {
			return true
		}
		for _, h := range p.configuredHosts() {
			at(h)
		}
		s := p.Sender()
		if s == nil {
			return true
		}
		bls, err := s.Outbox().Backlogs()
		if err != nil {
			return true // closed meanwhile: nothing pending here
		}
		for ep, bl := range bls {
			b := at(endpointHost(ep))
			b.pending += bl.Pending
			if b.oldest.IsZero() || bl.Oldest.Before(b.oldest) {
				b.oldest = bl.Oldest
			}
		}
		return true
	})
	now := time.Now()
	for host, b := range byHost {
		age := 0.0
		if !b.oldest.IsZero() {
			age = max(now.Sub(b.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(b.pending), host)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, host)
	}
}
