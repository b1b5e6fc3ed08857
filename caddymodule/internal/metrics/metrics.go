// Package metrics registers the collectors of scgate's Caddy modules in
// Caddy's per-config metrics registry. Caddy makes a new registry at every
// config load, while collectors are created once per process (their counts
// go on across reloads): each Provision registers them again.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers every collector in reg, ignoring those reg already
// has (several handlers of one config register the same collectors). A nil
// reg registers nothing.
func Register(reg prometheus.Registerer, collectors ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}
