package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scgate/scgate/sender"
)

// How the command line shows deliveries and attempts to people: times in
// local time, durations such as 1m30s, and a bounded, escaped start of a
// response body. Scripts use --json instead.

// maxPreview is how much of a response body an attempt line shows.
const maxPreview = 200

// AttemptLine is one line about attempt a of a delivery with attempts
// budget (0: not known): status (or why none came), latency, outcome and
// next wait.
func AttemptLine(a sender.Attempt, attempts int) string {
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
	fmt.Fprintf(&b, " in %s; %s", HumanDuration(a.Latency), a.Outcome)
	if a.Outcome == sender.OutcomeRetry {
		fmt.Fprintf(&b, ", next in %s", HumanDuration(a.NextWait))
		if a.RetryAfter > 0 {
			fmt.Fprintf(&b, " (Retry-After %s)", HumanDuration(a.RetryAfter))
		}
	}
	return b.String()
}

// AttemptDetails are the lines under a failed attempt that got an answer:
// where a redirect pointed, and the start of the response body.
func AttemptDetails(a sender.Attempt) []string {
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

// Relative says how far t is from now: "3m ago", "in 1m30s".
func Relative(t, now time.Time) string {
	if d := now.Sub(t); d >= 0 {
		return HumanDuration(d) + " ago"
	}
	return "in " + HumanDuration(t.Sub(now))
}

// WriteDelivery shows a delivery (of the sender's outbox or an inbox) and
// its attempt log to people: its body's size, never the body; extra rows
// (name, value) come before the store.
func WriteDelivery(w io.Writer, store string, d *sender.Delivery, bodyBytes int, log []sender.Attempt, extra [][2]string, now time.Time) error {
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
	fmt.Fprintf(tw, "body\t%d bytes\n", bodyBytes)
	fmt.Fprintf(tw, "created\t%s (%s)\n", LocalTime(d.CreatedAt), Relative(d.CreatedAt, now))
	fmt.Fprintf(tw, "updated\t%s (%s)\n", LocalTime(d.UpdatedAt), Relative(d.UpdatedAt, now))
	if !d.NextAttempt.IsZero() {
		fmt.Fprintf(tw, "next attempt\t%s (%s)\n", LocalTime(d.NextAttempt), Relative(d.NextAttempt, now))
	}
	if d.LastError != "" {
		fmt.Fprintf(tw, "last error\t%s\n", d.LastError)
	}
	for _, row := range extra {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	fmt.Fprintf(tw, "store\t%s\n", store)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(log) == 0 {
		_, err := fmt.Fprintln(w, "\nno attempts yet")
		return err
	}
	fmt.Fprintln(w, "\nattempts")
	for _, a := range log {
		fmt.Fprintf(w, "  %s  %s\n", LocalTime(a.Start), AttemptLine(a, d.MaxAttempts))
		for _, line := range AttemptDetails(a) {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
	return nil
}
