package screenshotcenterwebhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"
	"github.com/scgate/scgate/caddymodule/internal/cli"
	"github.com/scgate/scgate/inbox"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "inbox",
		Usage: "list|show <id>|replay <id>|replay --state failed|retry <id>|retry --state pending [--store <file>] [--address <admin address>]",
		Short: "Inspects, replays and retries the entries of a screenshotcenter_webhook inbox",
		Long: `
Reads the inbox of a screenshotcenter_webhook handler in inbox mode.

  list [--state pending|delivered|failed|gone] [--limit n] [--json]
                        the inboxes' counts and entries (failed ones are
                        the dead letters)
  show <id> [--json]    an entry (never its body or headers) and its
                        attempts, in local time
  replay <id>           queue a delivered, failed or gone entry again,
                        with a fresh attempt budget: it is delivered once
                        more, with the next attempt number
  replay --state failed|delivered|gone [--since 2h | --from <time>] [--to <time>]
                        queue again every such entry that became so in
                        the range (times in RFC 3339)
  retry <id>            deliver a pending entry now instead of at its
                        next attempt (once the application is back from
                        an outage): the same entry, its attempts going
                        on; one behind an earlier entry of its order_by
                        key stays behind it
  retry --state pending deliver every pending entry waiting for a retry
                        now, within concurrency and rate

When a running scgate holds the file (bbolt locks it), the operations go
through that gateway's admin API (/scgate/inbox) at --address, default
` + caddy.DefaultAdminListen + `; a replayed entry is then delivered at
once. When none does, the file is read directly (list and show open it
read-only and change nothing) and a replayed entry is delivered by the
next gateway on the file. If the default store does not exist, every
inbox of the gateway at --address is used.

--store defaults to scgate/inbox.db in Caddy's data directory. An inbox
with backend nats is always read through a gateway that uses it: give
--store as the list names it (nats://host:port/STREAM), or leave --store
out when the gateway at --address has no default bolt file.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("store", "", "Inbox file (default: in Caddy's data directory)")
			cmd.PersistentFlags().String("address", caddy.DefaultAdminListen, "Admin API address of the gateway holding the store")
			list := &cobra.Command{Use: "list", Short: "Lists entries", Args: cobra.NoArgs, RunE: cli.ReportErrors(runInboxList)}
			list.Flags().String("state", "", "Only this state")
			list.Flags().Int("limit", defaultInboxLimit, "At most this many per state (0: all)")
			list.Flags().Bool("json", false, "Print JSON (for scripts)")
			show := &cobra.Command{Use: "show <id>", Short: "Shows an entry and its attempts", Args: cobra.ExactArgs(1), RunE: cli.ReportErrors(runInboxShow)}
			show.Flags().Bool("json", false, "Print JSON (for scripts)")
			replay := &cobra.Command{Use: "replay <id> | replay --state failed|delivered|gone [--since <duration> | --from <time>] [--to <time>]",
				Short: "Queues an entry again, or every entry of a state in a time range", Args: cobra.MaximumNArgs(1), RunE: cli.ReportErrors(runInboxReplay)}
			replay.Flags().String("state", "", "Queue again every entry in this state: failed, delivered or gone")
			replay.Flags().String("since", "", "With --state: those that became so within this long, such as 90m or 2d")
			replay.Flags().String("from", "", "With --state: those that became so at or after this RFC 3339 time")
			replay.Flags().String("to", "", "With --state: those that became so before this RFC 3339 time")
			replay.Flags().Bool("json", false, "Print JSON (for scripts)")
			retry := &cobra.Command{Use: "retry <id> | retry --state pending",
				Short: "Delivers a pending entry now, or every pending entry waiting for a retry", Args: cobra.MaximumNArgs(1), RunE: cli.ReportErrors(runInboxRetry)}
			retry.Flags().String("state", "", "Deliver every entry in this state now: pending")
			retry.Flags().Bool("json", false, "Print JSON (for scripts)")
			cmd.AddCommand(list, show, replay, retry)
		},
	})
}

// inboxCall makes one request of the inbox admin API (method, the path
// after /scgate/inbox, the query) for the store of --store (or the
// default one) and decodes its answer into out: on the file itself when
// no gateway holds it (read-only unless method is POST), else through the
// admin API of the gateway at --address.
func inboxCall(c *cobra.Command, method, path string, q url.Values, out any) error {
	store, _ := c.Flags().GetString("store")
	explicit := store != ""
	if !explicit {
		store = DefaultInboxPath()
	}
	addr, _ := c.Flags().GetString("address")
	if isNATSStore(store) {
		// A shared inbox: any gateway using it answers for it.
		q.Set("store", store)
		return adminCall(addr, method, path, q, out)
	}
	abs, err := filepath.Abs(store)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("inbox %s: %w", abs, err)
		}
		// No default store here: ask the gateway about all of its inboxes.
		return adminCall(addr, method, path, q, out)
	}
	f, err := inbox.OpenFile(abs, method == http.MethodPost)
	if errors.Is(err, inbox.ErrStoreLocked) {
		q.Set("store", abs)
		if err := adminCall(addr, method, path, q, out); err != nil {
			return fmt.Errorf("%s is locked by a running process; through its admin API: %w", abs, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	ans, err := answerInbox([]namedInbox{{path: abs, src: f}}, method, inboxAdminBase+path, q, time.Now())
	if err != nil {
		return err
	}
	// Through JSON, so that the file and the admin API give the command
	// the very same answer.
	raw, err := json.Marshal(ans)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

func adminCall(addr, method, path string, q url.Values, out any) error {
	uri := inboxAdminBase + path
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	return adminapi.Call(addr, method, uri, out)
}

func runInboxList(c *cobra.Command, _ []string) error {
	state, _ := c.Flags().GetString("state")
	limit, _ := c.Flags().GetInt("limit")
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if state != "" {
		q.Set("state", state)
	}
	var ans inboxList
	if err := inboxCall(c, http.MethodGet, "", q, &ans); err != nil {
		return err
	}
	out := c.OutOrStdout()
	if asJSON, _ := c.Flags().GetBool("json"); asJSON {
		return cli.PrintJSON(out, ans)
	}
	return writeInboxList(out, ans, time.Now())
}

// writeInboxList prints a list for people: for each inbox, its line
// (storeLine), then its entries in columns under a header.
func writeInboxList(out io.Writer, ans inboxList, now time.Time) error {
	for i, st := range ans.Stores {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "# %s\n", storeLine(st, now))
		if len(st.Entries) == 0 {
			continue
		}
		// The header and the rows go through one tabwriter, with no line
		// between them: it lines up only adjacent lines' cells.
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tEVENT\tATTEMPT\tLAST\tNEXT\tDEDUPE KEY")
		for _, e := range st.Entries {
			last := "-"
			if e.LastStatus != 0 {
				last = strconv.Itoa(e.LastStatus)
			} else if e.LastError != "" {
				last = "error"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.State, e.Event, e.Number(), last, cli.LocalTime(e.NextAttempt), e.DedupeKey)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// storeLine says what an inbox holds: its file, endpoint, counts and how
// long its oldest pending entry has waited.
func storeLine(st inboxStore, now time.Time) string {
	line := "inbox " + st.Store
	if st.Endpoint != "" {
		line += " (endpoint " + st.Endpoint + ")"
	}
	if !st.Open {
		return line + ": not open (no config using it has started)"
	}
	var counts []string
	for _, s := range inbox.States {
		counts = append(counts, fmt.Sprintf("%d %s", st.Counts[string(s)], s))
	}
	line += ": " + strings.Join(counts, ", ")
	if !st.OldestPending.IsZero() {
		line += "; oldest pending queued " + cli.Relative(st.OldestPending, now)
	}
	return line
}

func runInboxShow(c *cobra.Command, args []string) error {
	var ans entryAnswer
	if err := inboxCall(c, http.MethodGet, "/"+url.PathEscape(args[0]), url.Values{}, &ans); err != nil {
		return err
	}
	if asJSON, _ := c.Flags().GetBool("json"); asJSON {
		return cli.PrintJSON(c.OutOrStdout(), ans.Entry)
	}
	e := ans.Entry
	extra := [][2]string{{"dedupe key", e.DedupeKey}}
	if e.OrderKey != "" {
		extra = append(extra, [2]string{"order key", e.OrderKey})
	}
	return cli.WriteDelivery(c.OutOrStdout(), ans.Store, e.Delivery, e.bodySize(), e.Log, extra, time.Now())
}

func runInboxReplay(c *cobra.Command, args []string) error {
	fl := c.Flags()
	state, _ := fl.GetString("state")
	asJSON, _ := fl.GetBool("json")
	out := c.OutOrStdout()
	q := url.Values{}
	for _, name := range []string{"since", "from", "to"} {
		if v, _ := fl.GetString(name); v != "" {
			q.Set(name, v)
		}
	}
	switch {
	case len(args) == 1 && state == "" && len(q) == 0:
		var ans entryAnswer
		if err := inboxCall(c, http.MethodPost, "/"+url.PathEscape(args[0])+"/replay", url.Values{}, &ans); err != nil {
			return err
		}
		if asJSON {
			return cli.PrintJSON(out, ans)
		}
		_, err := fmt.Fprintf(out, "%s queued again: pending, due now (attempt %d next)\n", ans.Entry.ID, ans.Entry.Number()+1)
		return err
	case len(args) == 0 && state != "":
	default:
		return errors.New("give one entry id, or --state failed|delivered|gone (and optionally --since, or --from and --to) for all of them")
	}
	q.Set("state", state)
	var ans replayedAnswer
	if err := inboxCall(c, http.MethodPost, "/replay", q, &ans); err != nil {
		return err
	}
	if asJSON {
		return cli.PrintJSON(out, ans)
	}
	total := 0
	for _, st := range ans.Stores {
		for _, id := range st.Replayed {
			fmt.Fprintf(out, "%s queued again\n", id)
		}
		total += len(st.Replayed)
	}
	_, err := fmt.Fprintf(out, "%d %s entries queued again: pending, due now\n", total, state)
	return err
}

func runInboxRetry(c *cobra.Command, args []string) error {
	state, _ := c.Flags().GetString("state")
	asJSON, _ := c.Flags().GetBool("json")
	out := c.OutOrStdout()
	switch {
	case len(args) == 1 && state == "":
		var ans entryAnswer
		if err := inboxCall(c, http.MethodPost, "/"+url.PathEscape(args[0])+"/retry", url.Values{}, &ans); err != nil {
			return err
		}
		if asJSON {
			return cli.PrintJSON(out, ans)
		}
		_, err := fmt.Fprintf(out, "%s due now (attempt %d next)\n", ans.Entry.ID, ans.Entry.Number()+1)
		return err
	case len(args) == 0 && state != "":
	default:
		return errors.New("give one entry id, or --state pending for every pending entry")
	}
	var ans retriedAnswer
	if err := inboxCall(c, http.MethodPost, "/retry", url.Values{"state": {state}}, &ans); err != nil {
		return err
	}
	if asJSON {
		return cli.PrintJSON(out, ans)
	}
	total := 0
	for _, st := range ans.Stores {
		for _, id := range st.Retried {
			fmt.Fprintf(out, "%s due now\n", id)
		}
		total += len(st.Retried)
	}
	_, err := fmt.Fprintf(out, "%d pending entries due now\n", total)
	return err
}
