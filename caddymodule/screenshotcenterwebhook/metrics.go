package screenshotcenterwebhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scgate/scgate/caddymodule/internal/metrics"
)

// Collectors are created once per process and registered in every config
// load's registry (Caddy makes a new registry per load). Labels are bounded
// sets: outcomes, reason codes and store operations, never event ids.
var (
	metricRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "webhook",
		Name:      "requests_total",
		Help:      "Webhook requests handled by the gateway, by outcome.",
	}, []string{"outcome"})
	metricRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "webhook",
		Name:      "rejections_total",
		Help:      "Webhook requests rejected by the gateway, by reason code.",
	}, []string{"reason"})
	metricStoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "dedupe",
		Name:      "errors_total",
		Help:      "Dedupe store operations that failed, by operation.",
	}, []string{"op"})
	metricEvictions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "dedupe",
		Name:      "evictions_total",
		Help:      "Delivered keys the full memory store evicted to make room for new events.",
	})
	metricFailOpen = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "scgate",
		Subsystem: "dedupe",
		Name:      "fail_open_total",
		Help:      "Events forwarded without dedupe because the store failed and on_error is open.",
	})
)

func registerMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, metricRequests, metricRejections, metricStoreErrors, metricEvictions, metricFailOpen)
}

// outcomeCounters are the requests_total children, resolved once so a request
// costs no label hashing.
var outcomeCounters = func() map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter)
	for _, o := range []string{outcomeForwarded, outcomeUpstreamFailed, outcomeDuplicate, outcomeInFlight,
		outcomeIgnored, outcomeRejected, outcomeUnavailable} {
		m[o] = metricRequests.WithLabelValues(o)
	}
	return m
}()

func countOutcome(outcome string) { outcomeCounters[outcome].Inc() }
