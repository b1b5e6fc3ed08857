package screenshotcenterwebhook

import (
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/refusal"
)

// Every refusal the receiver can answer is in the README's table of what
// the gateway answers, with its status, and no reason code is made twice.
func TestReasonTableMatchesTheCode(t *testing.T) {
	readme := readFile(t, "../../README.md")
	start := strings.Index(readme, "## What the gateway answers")
	if start < 0 {
		t.Fatal("README has no section \"What the gateway answers\"")
	}
	table := readme[start:]
	if end := strings.Index(table[3:], "\n## "); end > 0 {
		table = table[:end+3]
	}
	seen := map[string]int{}
	for _, r := range refusal.All() {
		if status, dup := seen[r.Reason]; dup {
			t.Errorf("reason %q is made twice (statuses %d and %d)", r.Reason, status, r.Status)
		}
		seen[r.Reason] = r.Status
		row := ""
		for _, line := range strings.Split(table, "\n") {
			if strings.HasPrefix(line, "|") && strings.Contains(line, "`"+r.Reason+"`") {
				row = line
				break
			}
		}
		switch {
		case row == "":
			t.Errorf("reason %q (%d) is not in the README's table", r.Reason, r.Status)
		case !strings.Contains(row, "`"+strconv.Itoa(r.Status)+"`"):
			t.Errorf("README's row for %q does not give its status %d: %s", r.Reason, r.Status, row)
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d refusals registered: the table is not complete", len(seen))
	}
}
