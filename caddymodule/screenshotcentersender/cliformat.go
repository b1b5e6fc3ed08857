package screenshotcentersender

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scgate/scgate/caddymodule/internal/cli"
	"github.com/scgate/scgate/sender"
)

// How the command line shows deliveries and attempts to people: times in
// local time, durations such as 1m30s, and a bounded, escaped start of a
// response body. Scripts use --json instead.

// maxPreview is how much of a response body an attempt line shows.
const maxPreview = 200

// attemptLine is one line about attempt a of a delivery with attempts
// budget (0: not known): status (or why none came), latency, outcome and
// next wait.
func attemptLine(a sender.Attempt, attempts int) string {
	var b strings.Builder
	if attempts > 0 {
		fmt.Fprintf(&b, "attempt %d/%d: ", a.N, attempts)
	} else {
		fmt.Fprintf(&b, "attempt %d: ", a.N)
	}
	if a.Status != 0 {
		fmt.Fprintf(&b, "%d", a.Status)
	} else {
		fmt.Fprintf(&b, "no response (%s)", a.Error)
	}
	fmt.Fprintf(&b, " in %s; %s", cli.HumanDuration(a.Latency), a.Outcome)
	if a.Outcome == sender.OutcomeRetry {
		fmt.Fprintf(&b, ", next in %s", cli.HumanDuration(a.NextWait))
		if a.RetryAfter > 0 {
			fmt.Fprintf(&b, " (Retry-After %s)", cli.HumanDuration(a.RetryAfter))
		}
	}
	return b.String()
}

// attemptDetails are the lines under a failed attempt that got an answer:
// where a redirect pointed, and the start of the response body.
func attemptDetails(a sender.Attempt) []string {
	var out []string
	if a.Status >= 300 && a.Status < 400 {
		loc := "no Location header"
		if a.Location != "" {
			loc = "it pointed to " + escape(a.Location, maxPreview)
		}
		out = append(out, "redirects are not followed; "+loc)
	}
	if a.Status != 0 && (a.Status < 200 || a.Status >= 300) && a.Response != "" {
		out = append(out, "response: "+preview(a.Response, a.Truncated))
	}
	return out
}

// preview is the start of a response body, quoted with control characters
// and invalid UTF-8 escaped, saying when there was more.
func preview(body string, truncated bool) string {
	p := escape(body, maxPreview)
	switch {
	case len(body) > maxPreview && truncated:
		p += fmt.Sprintf(" (first %d bytes; more than %d were sent)", maxPreview, len(body))
	case len(body) > maxPreview:
		p += fmt.Sprintf(" (first %d of %d bytes)", maxPreview, len(body))
	case truncated:
		p += " (the rest was not read)"
	}
	return p
}

// escape quotes the first n bytes of s, escaping control characters and
// invalid UTF-8.
func escape(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strconv.Quote(s)
}

// relative says how far t is from now: "3m ago", "in 1m30s".
func relative(t, now time.Time) string {
	if d := now.Sub(t); d >= 0 {
		return cli.HumanDuration(d) + " ago"
	}
	return "in " + cli.HumanDuration(t.Sub(now))
}

// writeDelivery shows a delivery and its attempt log to people.
func writeDelivery(w io.Writer, store string, v *deliveryView, now time.Time) error {
	d := v.Delivery
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "delivery\t%s\n", d.ID)
	state := string(d.State)
	if d.MaxAttempts > 0 {
		state += fmt.Sprintf(" (%d of %d attempts made)", d.Attempts, d.MaxAttempts)
	} else {
		state += fmt.Sprintf(" (%d attempts made)", d.Attempts)
	}
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "event\t%s\n", d.Event)
	fmt.Fprintf(tw, "url\t%s\n", d.URL)
	fmt.Fprintf(tw, "body\t%d bytes\n", v.BodyBytes)
	fmt.Fprintf(tw, "created\t%s (%s)\n", cli.LocalTime(d.CreatedAt), relative(d.CreatedAt, now))
	fmt.Fprintf(tw, "updated\t%s (%s)\n", cli.LocalTime(d.UpdatedAt), relative(d.UpdatedAt, now))
	if !d.NextAttempt.IsZero() {
		fmt.Fprintf(tw, "next attempt\t%s (%s)\n", cli.LocalTime(d.NextAttempt), relative(d.NextAttempt, now))
	}
	if d.LastError != "" {
		fmt.Fprintf(tw, "last error\t%s\n", d.LastError)
	}
	fmt.Fprintf(tw, "store\t%s\n", store)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Log) == 0 {
		_, err := fmt.Fprintln(w, "\nno attempts yet")
		return err
	}
	fmt.Fprintln(w, "\nattempts")
	for _, a := range v.Log {
		fmt.Fprintf(w, "  %s  %s\n", cli.LocalTime(a.Start), attemptLine(a, d.MaxAttempts))
		for _, line := range attemptDetails(a) {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
	return nil
}
