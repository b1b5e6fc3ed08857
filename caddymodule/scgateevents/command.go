package scgateevents

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"
	"github.com/scgate/scgate/caddymodule/internal/cli"
	"github.com/scgate/scgate/eventlog"
)

// maxLine bounds one line of a follow stream.
const maxLine = 1 << 20

// reconnectFor is how long --follow tries to reconnect after its stream
// ended (a reload replaces the admin endpoint) before it gives up.
const reconnectFor = 10 * time.Second

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "events",
		Usage: "[--outcome <o>] [--reason <r>] [--event <name>] [--endpoint <name>] [--id <id>] [--since <time|duration>] [--limit <n>] [--json] [--follow] [--address <admin address>]",
		Short: "Shows the requests the webhook gateway answered and why",
		Long: `
Reads the event log of a running scgate through its admin API
(` + adminPath + ` at --address, default ` + caddy.DefaultAdminListen + `): one entry per request a
screenshotcenter_webhook handler answered, with its outcome (forwarded,
upstream_failed, duplicate, in_flight, ignored, rejected, unavailable),
reason code, event, ids, status and the upstream's status and latency.
Entries never hold a body, a signature or a secret.

The newest entries come first, at most --limit (default 100, 0 for all).
The filters match exactly; --id matches the event's id (a screenshot_id
or batch_id, another scheme's event id) or a delivery id; --since is an RFC 3339 time or a duration back from now
(90m, 2d).

--follow prints the newest --limit matching entries oldest first, then
each new one as it is answered, until interrupted; a reader that falls
behind is told how many entries it missed. --json prints the admin API's
JSON (with --follow, one JSON object per line).`,
		CobraFunc: func(cmd *cobra.Command) {
			fl := cmd.Flags()
			fl.String("outcome", "", "Only this outcome")
			fl.String("reason", "", "Only this reason code")
			fl.String("event", "", "Only this event type")
			fl.String("endpoint", "", "Only this endpoint (a handler's name)")
			fl.String("id", "", "Only this event id (screenshot_id, batch_id, another scheme's id) or delivery id")
			fl.String("since", "", "Only entries since this RFC 3339 time or this long ago (90m, 2d)")
			fl.Int("limit", DefaultLimit, "At most this many entries (0: all)")
			fl.Bool("json", false, "Print JSON (for scripts)")
			fl.Bool("follow", false, "Keep printing new entries as they are answered")
			fl.String("address", caddy.DefaultAdminListen, "Admin API address of the gateway")
			cmd.Args = cobra.NoArgs
			cmd.RunE = cli.ReportErrors(runEvents)
		},
	})
}

func runEvents(c *cobra.Command, _ []string) error {
	fl := c.Flags()
	q := url.Values{}
	for _, name := range []string{"outcome", "reason", "event", "endpoint", "id", "since"} {
		if v, _ := fl.GetString(name); v != "" {
			q.Set(name, v)
		}
	}
	limit, _ := fl.GetInt("limit")
	if limit < 0 {
		return errors.New("--limit must not be negative")
	}
	q.Set("limit", strconv.Itoa(limit))
	if s := q.Get("since"); s != "" {
		// Resolved here, so that a reconnecting --follow keeps the same bound.
		t, err := parseSince(s, time.Now())
		if err != nil {
			return fmt.Errorf("--%v", err)
		}
		q.Set("since", t.Format(time.RFC3339Nano))
	}
	addr, _ := fl.GetString("address")
	asJSON, _ := fl.GetBool("json")
	out := c.OutOrStdout()
	if follow, _ := fl.GetBool("follow"); follow {
		return followEvents(out, addr, q, asJSON)
	}
	var ans Answer
	if err := adminapi.Call(addr, http.MethodGet, adminPath+"?"+q.Encode(), &ans); err != nil {
		return err
	}
	if asJSON {
		return cli.PrintJSON(out, ans)
	}
	fmt.Fprintln(out, header)
	for i := range ans.Events {
		fmt.Fprintln(out, row(&ans.Events[i]))
	}
	if len(ans.Events) == 0 {
		fmt.Fprintf(out, "# no matching entries (the log holds the last %d of %d answered requests)\n", ans.Size, ans.Recorded)
	}
	return nil
}

// followEvents prints the stream of the admin route until interrupted,
// reconnecting after the last seq it printed when the stream ends.
func followEvents(out io.Writer, addr string, q url.Values, asJSON bool) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	q.Set("follow", "1")
	if !asJSON {
		fmt.Fprintln(out, header)
	}
	var last uint64
	for {
		if last > 0 {
			q.Set("after", strconv.FormatUint(last, 10))
			q.Set("limit", "0")
		}
		resp, err := openStream(addr, adminPath+"?"+q.Encode(), last > 0, stop)
		if err != nil || resp == nil {
			return err
		}
		ended := make(chan error, 1)
		go func() { ended <- printStream(out, resp.Body, asJSON, &last) }()
		select {
		case <-stop:
			resp.Body.Close()
			<-ended
			return nil
		case err := <-ended:
			resp.Body.Close()
			if err != nil {
				return err
			}
		}
	}
}

// openStream opens a follow stream; after a stream ended (retry) it tries
// again for reconnectFor. It returns nil, nil when interrupted.
func openStream(addr, uri string, retry bool, stop <-chan os.Signal) (*http.Response, error) {
	deadline := time.Now().Add(reconnectFor)
	for {
		resp, err := adminapi.Open(addr, http.MethodGet, uri)
		if err == nil || !retry || time.Now().After(deadline) {
			return resp, err
		}
		select {
		case <-stop:
			return nil, nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printStream prints the lines of one stream, keeping the seq of the last
// entry in last; it returns at the stream's end.
func printStream(out io.Writer, body io.Reader, asJSON bool, last *uint64) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		var line struct {
			eventlog.Entry
			Missed uint64 `json:"missed"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("admin API: reading the stream: %w", err)
		}
		if line.Seq > 0 {
			*last = line.Seq
		}
		switch {
		case asJSON:
			fmt.Fprintln(out, sc.Text())
		case line.Missed > 0:
			fmt.Fprintf(out, "# missed %d entries: this reader fell behind\n", line.Missed)
		default:
			fmt.Fprintln(out, row(&line.Entry))
		}
	}
	return nil // the stream ended (or broke off): reconnect
}

// The columns of the table.
const rowFormat = "%-23s  %-12s  %-15s  %-26s  %-6s  %-13s  %-22s  %-24s  %s"

var header = fmt.Sprintf(rowFormat, "TIME", "ENDPOINT", "OUTCOME", "REASON", "STATUS", "UPSTREAM", "EVENT", "ID", "CLIENT")

// row is an entry as a line of the table, every field printable.
func row(e *eventlog.Entry) string {
	status := "-"
	switch {
	case e.Status != 0:
		status = strconv.Itoa(e.Status)
	case e.Mode != "":
		status = "passed"
	}
	upstream := "-"
	if e.UpstreamStatus != 0 || e.UpstreamLatency != 0 {
		upstream = fmt.Sprintf("%d %s", e.UpstreamStatus, cli.HumanDuration(e.UpstreamLatency))
		if e.UpstreamStatus == 0 {
			upstream = "none " + cli.HumanDuration(e.UpstreamLatency)
		}
	}
	id := cmp.Or(e.ID, e.ScreenshotID, e.BatchID)
	outcome := e.Outcome
	if e.Mode != "" {
		outcome += " (" + e.Mode + ")"
	}
	return fmt.Sprintf(rowFormat, cli.LocalTime(e.Time), text(e.Endpoint), text(outcome), text(e.Reason), status, upstream,
		text(e.Event), text(id), text(cmp.Or(e.ClientIP, e.RemoteAddr)))
}

// text is s for a terminal: "-" when empty, quoted when it holds anything
// not printable (a signed body may hold control characters in its ids).
func text(s string) string {
	switch {
	case s == "":
		return "-"
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return strconv.Quote(s)
	}
	return s
}
