package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "scgate_test_total", Help: "A test counter."})
	clash := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scgate_test_total", Help: "Another help text."})
	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg, c); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg, c); err != nil {
		t.Fatalf("registering again: %v", err)
	}
	if err := Register(reg, clash); err == nil {
		t.Fatal("a different collector with the same name was accepted")
	}
	if err := Register(nil, c); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
	// A new registry (a config reload) takes the same collector.
	if err := Register(prometheus.NewPedanticRegistry(), c); err != nil {
		t.Fatal(err)
	}
}
