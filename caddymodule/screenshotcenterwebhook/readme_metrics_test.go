package screenshotcenterwebhook

import (
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	seriesRE  = regexp.MustCompile(`\bscgate_[a-z_]+`)
	matcherRE = regexp.MustCompile(`(scgate_[a-z_]+)\{([^}]*)\}`)
	labelRE   = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!=|!~|=)`)
	descRE    = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
)

// collectors is a prometheus.Registerer that keeps what is registered.
type collectors []prometheus.Collector

func (c *collectors) Register(col prometheus.Collector) error   { *c = append(*c, col); return nil }
func (c *collectors) MustRegister(cols ...prometheus.Collector) { *c = append(*c, cols...) }
func (c *collectors) Unregister(prometheus.Collector) bool      { return false }

// receiverSeries returns the series the receiver registers, with their
// labels.
func receiverSeries(t *testing.T) map[string][]string {
	t.Helper()
	var reg collectors
	if err := registerMetrics(&reg); err != nil {
		t.Fatal(err)
	}
	descs := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range reg {
			c.Describe(descs)
		}
		close(descs)
	}()
	out := map[string][]string{}
	for d := range descs {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		out[m[1]] = strings.Split(m[2], ",")
	}
	return out
}

// The alert rules in the README name series the receiver exports (a rule
// on a series that does not exist never fires), with labels those series
// have; the sender's series are its package's concern.
func TestREADMEAlertRulesUseExportedSeries(t *testing.T) {
	readme := readFile(t, "../../README.md")
	start := strings.Index(readme, "Example alert rules:")
	if start < 0 {
		t.Fatal("README has no example alert rules")
	}
	rules := readme[start:]
	rules = rules[:strings.Index(rules, "\n```\n")]
	series := receiverSeries(t)
	names := 0
	for _, name := range seriesRE.FindAllString(rules, -1) {
		if strings.HasPrefix(name, "scgate_sender_") {
			continue
		}
		names++
		if _, ok := series[name]; !ok {
			t.Errorf("an alert rule uses %s, which the receiver does not export", name)
		}
	}
	if names < 8 {
		t.Fatalf("only %d receiver series in the rules: the block was not read", names)
	}
	for _, m := range matcherRE.FindAllStringSubmatch(rules, -1) {
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			if labels, ok := series[m[1]]; ok && !contains(labels, l[1]) {
				t.Errorf("an alert rule matches %s on label %q; it has %v", m[1], l[1], labels)
			}
		}
	}
	// Every receiver series in the metrics table is exported too.
	table := readme[strings.Index(readme, "### Metrics"):start]
	for _, name := range seriesRE.FindAllString(table, -1) {
		if strings.HasPrefix(name, "scgate_sender_") {
			continue
		}
		if _, ok := series[name]; !ok {
			t.Errorf("the metrics table names %s, which the receiver does not export", name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
