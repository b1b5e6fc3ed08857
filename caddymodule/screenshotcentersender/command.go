package screenshotcentersender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/scgate/scgate/caddymodule/internal/cli"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// SecretEnv is read for the secret when --secret is not given, so that it
// need not appear in the process list.
const SecretEnv = "SCREENSHOTCENTER_WEBHOOK_SECRET"

// maxData bounds --data input.
const maxData = 16 << 20

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "send",
		Usage: "--url <url> [--scheme <name>] [--secret <secret>] [--event <name>] [--data <file>|-] [--attempts <n>] [--initial-backoff <duration>] [--timeout <duration>] [--allow-private]",
		Short: "Delivers one signed webhook (ScreenshotCenter's, or another provider's scheme), retrying like the vendor",
		Long: `
Sends one webhook delivery in the foreground, exactly as ScreenshotCenter
does: a POST of the body with Content-Type: application/json,
X-ScreenshotCenter-Event and X-ScreenshotCenter-Signature (sha256=<hex
HMAC-SHA256 of the body>), plus a delivery id stable across attempts and
the attempt number. Only 2xx is success; redirects are not followed (scgate
says where they pointed); 410 stops; 429/503 Retry-After is honoured. One
line is printed per attempt, with the start of the response body when the
endpoint refused it.

Exit status: 0 when delivered, 1 when the attempts are exhausted, the
endpoint answered 410 Gone, or the input was invalid (the reason is
printed on stderr).

--secret defaults to $` + SecretEnv + `; a secret shorter than 16 bytes
or only whitespace is refused.
Without --data a realistic sample of --event (default screenshot.finished)
is sent, with a fresh screenshot_id and created_at now. With --data, the
file's bytes (or stdin for -) are sent unchanged; --event defaults to the
body's "event".

--scheme signs as another provider does instead (github, stripe,
shopify, and the other schemes of the receiver's scheme option): each
attempt carries that provider's signature headers, made anew for the
attempt (Stripe's t= is the attempt's time, as Stripe signs each retry),
and --secret is in that scheme's format (Stripe's whsec_ string, say).
It needs --data; --event is the event header of a scheme that has one
(X-GitHub-Event, X-Shopify-Topic: required there) and must agree with the
body's type where the scheme reads it from the body.

The SSRF guard refuses loopback, private and link-local addresses unless
--allow-private is given.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("url", "", "Endpoint URL (required)")
			cmd.Flags().String("scheme", "", "Sign as this provider does (default screenshotcenter)")
			cmd.Flags().String("secret", "", "Signing secret (default $"+SecretEnv+")")
			cmd.Flags().String("event", "", "Event name (default: the body's event, or screenshot.finished)")
			cmd.Flags().String("data", "", "File with the JSON body, or - for stdin (default: a sample event)")
			cmd.Flags().Int("attempts", sender.DefaultAttempts, "Attempts, the first included")
			cmd.Flags().Duration("initial-backoff", sender.DefaultBackoff[0], "Wait before the 2nd attempt; later waits scale like 10s, 1m, 5m, 30m")
			cmd.Flags().Duration("timeout", sender.DefaultTimeout, "Timeout of one attempt")
			cmd.Flags().Bool("allow-private", false, "Allow loopback, private and link-local addresses")
			cmd.Args = cobra.NoArgs
			cmd.RunE = cli.ReportErrors(runSend)
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sign",
		Usage: "[--scheme <name>] [--secret <secret>] [--data <file>|-]",
		Short: "Prints the signature of a body: X-ScreenshotCenter-Signature's value, or a provider's signature headers",
		Long: `
Prints sha256=<hex HMAC-SHA256(secret, body)> for the exact bytes of
--data (a file, or - for stdin, the default). --secret defaults to
$` + SecretEnv + `; a secret shorter than 16 bytes or only whitespace is
refused.

With --scheme, prints the headers that provider's scheme signs the body
with, one "Name: value" line each, in name order (for stripe:
Stripe-Signature: t=<now>,v1=<hex>); --secret is in the scheme's format.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("scheme", "", "Sign as this provider does (default: print X-ScreenshotCenter-Signature's value)")
			cmd.Flags().String("secret", "", "Signing secret (default $"+SecretEnv+")")
			cmd.Flags().String("data", "-", "File with the body, or - for stdin")
			cmd.Args = cobra.NoArgs
			cmd.RunE = cli.ReportErrors(runSign)
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "deliveries",
		Usage: "list|show <id>|retry <id>|retry --state failed [--store <file>] [--address <admin address>]",
		Short: "Inspects and retries deliveries in a screenshotcenter_sender outbox",
		Long: `
Reads the bbolt outbox of the screenshotcenter_sender handler.

  list [--state pending|delivered|failed|gone] [--limit n] [--json]
  show <id> [--json]    the delivery (never its secret or body) and its
                        attempts, in local time; --json for scripts
  retry <id>            re-queue a failed or gone delivery with a fresh
                        attempt budget
  retry --state failed|gone [--since 2h]
                        re-queue every such delivery (that became final
                        within --since)

When no scgate runs on the store, the file is read directly (list and
show open it read-only and change nothing in it). When a running scgate
holds it (bbolt locks the file), the same operations go through that
gateway's admin API (/scgate/deliveries) at --address, default
` + caddy.DefaultAdminListen + `; a retried delivery is then sent at once. If
the default store does not exist, every store of the gateway at --address
is used.

--store defaults to scgate/outbox.db in Caddy's data directory.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("store", "", "Outbox file (default: in Caddy's data directory)")
			cmd.PersistentFlags().String("address", caddy.DefaultAdminListen, "Admin API address of the gateway holding the store")
			list := &cobra.Command{Use: "list", Short: "Lists deliveries", Args: cobra.NoArgs, RunE: cli.ReportErrors(runList)}
			list.Flags().String("state", "", "Only this state")
			list.Flags().Int("limit", 100, "At most this many per state (0: all)")
			list.Flags().Bool("json", false, "Print JSON (for scripts)")
			show := &cobra.Command{Use: "show <id>", Short: "Shows a delivery and its attempts", Args: cobra.ExactArgs(1), RunE: cli.ReportErrors(runShow)}
			show.Flags().Bool("json", false, "Print JSON (for scripts)")
			retry := &cobra.Command{Use: "retry <id> | retry --state failed|gone [--since <duration>]",
				Short: "Re-queues a failed or gone delivery, or all of them", Args: cobra.MaximumNArgs(1), RunE: cli.ReportErrors(runRetry)}
			retry.Flags().String("state", "", "Re-queue every delivery in this state: failed or gone")
			retry.Flags().String("since", "", "With --state: only those that became final within this long, such as 90m or 2d")
			cmd.AddCommand(list, show, retry)
		},
	})
}

// signingScheme returns --scheme (default screenshotcenter) built with
// --secret, else $SCREENSHOTCENTER_WEBHOOK_SECRET, and that secret; one
// the scheme refuses (blank, short, another format) or that cannot sign
// (a public key) is refused as in a config, the error naming the flag or
// variable.
func signingScheme(c *cobra.Command) (scheme.Scheme, []byte, error) {
	name, _ := c.Flags().GetString("scheme")
	if name == "" {
		name = scheme.ScreenshotCenter
	}
	if !slices.Contains(scheme.Names(), name) {
		return nil, nil, fmt.Errorf("--scheme must be one of %s, got %q", strings.Join(scheme.Names(), ", "), name)
	}
	s, _ := c.Flags().GetString("secret")
	from := "--secret"
	if s == "" {
		s, from = os.Getenv(SecretEnv), "$"+SecretEnv
	}
	if s == "" {
		return nil, nil, fmt.Errorf("a secret is required: pass --secret or set $%s", SecretEnv)
	}
	sch, err := sender.SigningScheme(name, []byte(s))
	var fe *scheme.SecretFormatError
	if errors.As(err, &fe) {
		return nil, nil, fmt.Errorf("%s %w", from, fe.Err)
	}
	if err != nil {
		return nil, nil, err
	}
	return sch, []byte(s), nil
}

func readData(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxData+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxData {
		return nil, fmt.Errorf("--data is larger than %d bytes", maxData)
	}
	return b, nil
}

func runSign(c *cobra.Command, _ []string) error {
	sch, secret, err := signingScheme(c)
	if err != nil {
		return err
	}
	name, _ := c.Flags().GetString("data")
	body, err := readData(name)
	if err != nil {
		return err
	}
	if !c.Flags().Changed("scheme") {
		_, err = fmt.Fprintln(c.OutOrStdout(), verifier.Sign(secret, body))
		return err
	}
	h := http.Header{}
	sch.Sign(h, 0, body, time.Now())
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			if _, err := fmt.Fprintf(c.OutOrStdout(), "%s: %s\n", k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func runSend(c *cobra.Command, _ []string) error {
	fl := c.Flags()
	endpoint, _ := fl.GetString("url")
	if err := sender.CheckURL(endpoint); err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	sch, secret, err := signingScheme(c)
	if err != nil {
		return err
	}
	attempts, _ := fl.GetInt("attempts")
	backoff, _ := fl.GetDuration("initial-backoff")
	timeout, _ := fl.GetDuration("timeout")
	if attempts <= 0 || backoff <= 0 || timeout <= 0 {
		return errors.New("--attempts, --initial-backoff and --timeout must be positive")
	}
	schemeName, _ := fl.GetString("scheme")
	name, body, err := sendBody(c, sch, schemeName == "" || schemeName == scheme.ScreenshotCenter)
	if err != nil {
		return err
	}
	allowPrivate, _ := fl.GetBool("allow-private")
	client, err := sender.NewClient(sender.ClientOptions{Timeout: timeout, AllowPrivate: allowPrivate})
	if err != nil {
		return err
	}
	d, err := sender.NewDelivery(endpoint, name, body, secret, time.Now())
	if err != nil {
		return err
	}
	d.MaxAttempts = attempts
	d.Scheme = schemeName
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := c.OutOrStdout()
	fmt.Fprintf(out, "delivery %s: %s, %d bytes, to %s\n", d.ID, name, len(body), endpoint)
	var last sender.Attempt
	state, err := sender.Deliver(ctx, client, sender.Schedule{Attempts: attempts, Backoff: sender.ScaledBackoff(backoff)}, d,
		func(d *sender.Delivery, a sender.Attempt) {
			last = a
			fmt.Fprintln(out, cli.AttemptLine(a, d.MaxAttempts))
			for _, line := range cli.AttemptDetails(a) {
				fmt.Fprintln(out, "  "+line)
			}
		})
	if err != nil {
		return fmt.Errorf("interrupted before the delivery ended (%v)", err)
	}
	switch {
	case state == sender.StateDelivered:
		fmt.Fprintf(out, "delivered after %s\n", attemptCount(d.Attempts))
		return nil
	case state == sender.StateGone:
		return errors.New("the endpoint answered 410 Gone: not retrying")
	case last.Kind == sender.KindBlocked:
		return errors.New("the SSRF guard refused the endpoint's address (pass --allow-private for a private or loopback endpoint)")
	case last.Kind == sender.Kind3xx:
		return fmt.Errorf("failed after %s: the endpoint answers with a redirect, which is not followed; send to the URL it points to", attemptCount(d.Attempts))
	case last.Status != 0:
		return fmt.Errorf("failed after %s: the last answer was %d", attemptCount(d.Attempts), last.Status)
	default:
		return fmt.Errorf("failed after %s: the last one got no answer (%s)", attemptCount(d.Attempts), last.Error)
	}
}

// attemptCount says "1 attempt" or "n attempts".
func attemptCount(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// sendBody returns the event name and body of `scgate send`: the --data
// file unchanged, checked with the receiver's checks of the scheme, all
// but the signature's (gateway.ReadUnsigned), with the headers it is sent
// with, so that a body its receiver would refuse is not sent; without
// --data, for ScreenshotCenter's scheme only, a fresh sample of --event.
func sendBody(c *cobra.Command, sch scheme.Scheme, screenshotCenter bool) (string, []byte, error) {
	event, _ := c.Flags().GetString("event")
	data, _ := c.Flags().GetString("data")
	if data == "" {
		if !screenshotCenter {
			return "", nil, errors.New("--scheme needs --data: there is no sample body of another provider")
		}
		return sampleBody(event)
	}
	body, err := readData(data)
	if err != nil {
		return "", nil, err
	}
	// The Content-Type it is sent with (Slack's receiver reads the body by
	// it) and the event header: ScreenshotCenter's must agree with the
	// body's event, another scheme's names the event type.
	h := http.Header{"Content-Type": {"application/json"}}
	if eh, ok := sch.(scheme.EventHeaderer); ok {
		if event == "" {
			return "", nil, fmt.Errorf("--event is required: this scheme sends the event type in %s", eh.EventHeader())
		}
		h.Set(eh.EventHeader(), event)
	} else if screenshotCenter && event != "" {
		h.Set(webhook.HeaderEvent, event)
	}
	ev, rf := gateway.ReadUnsigned(sch, h, body, time.Now())
	switch {
	case rf == scheme.ErrEventHeader:
		return "", nil, fmt.Errorf("--event %q differs from the body's event (receivers refuse that)", event)
	case rf != nil:
		return "", nil, fmt.Errorf("--data: %w (the receiver refuses it)", rf)
	}
	name := string(ev.Type)
	if event != "" && event != name {
		return "", nil, fmt.Errorf("--event %q differs from the body's type %q (receivers read the body)", event, name)
	}
	return name, body, nil
}

// sampleBody returns a fresh sample of the named event (default
// screenshot.finished) and its name.
func sampleBody(name string) (string, []byte, error) {
	if name == "" {
		name = webhook.ScreenshotFinished
	}
	id, err := sampleID(name)
	if err != nil {
		return "", nil, err
	}
	body, err := webhook.SampleBody(name, id, time.Now(), 0)
	if err != nil {
		return "", nil, fmt.Errorf("%w; pass --data", err)
	}
	return name, body, nil
}

// sampleID returns a fresh id for a sample of the named event: a
// screenshot id, or a batch id for batch.finished.
func sampleID(name string) (string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	if name == webhook.BatchFinished {
		return "batch_" + hex.EncodeToString(rnd[:]), nil
	}
	return "sc_" + hex.EncodeToString(rnd[:]), nil
}

func runList(c *cobra.Command, _ []string) error {
	stateName, _ := c.Flags().GetString("state")
	limit, _ := c.Flags().GetInt("limit")
	if limit < 0 {
		return errors.New("--limit must not be negative")
	}
	states := sender.States
	if stateName != "" {
		s, err := sender.ParseState(stateName)
		if err != nil {
			return err
		}
		states = []sender.State{s}
	}
	var stores []storeList
	err := withDeliveryStore(c, false, func(st deliveryStore) error {
		var err error
		stores, err = st.list(states, limit)
		return err
	})
	if err != nil {
		return err
	}
	out := c.OutOrStdout()
	if asJSON, _ := c.Flags().GetBool("json"); asJSON {
		return cli.PrintJSON(out, listAnswer{Stores: stores})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tEVENT\tATTEMPTS\tLAST\tNEXT\tURL")
	for _, sl := range stores {
		switch {
		case !sl.Open:
			fmt.Fprintf(tw, "# store %s (not open yet: locked by another process)\n", sl.Store)
		case len(stores) > 1:
			fmt.Fprintf(tw, "# store %s\n", sl.Store)
		}
		for _, d := range sl.Deliveries {
			last := "-"
			if d.LastStatus != 0 {
				last = fmt.Sprint(d.LastStatus)
			} else if d.LastError != "" {
				last = "error"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.State, d.Event, d.Attempts, last, cli.LocalTime(d.NextAttempt), d.URL)
		}
	}
	return tw.Flush()
}

func runShow(c *cobra.Command, args []string) error {
	var ans *deliveryAnswer
	err := withDeliveryStore(c, false, func(st deliveryStore) error {
		var err error
		ans, err = st.show(args[0])
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if asJSON, _ := c.Flags().GetBool("json"); asJSON {
		return cli.PrintJSON(c.OutOrStdout(), ans.Delivery)
	}
	return writeDelivery(c.OutOrStdout(), ans.Store, ans.Delivery, time.Now())
}

func runRetry(c *cobra.Command, args []string) error {
	stateName, _ := c.Flags().GetString("state")
	since, _ := c.Flags().GetString("since")
	out := c.OutOrStdout()
	switch {
	case len(args) == 1 && stateName == "" && since == "":
		var ans *retryAnswer
		err := withDeliveryStore(c, true, func(st deliveryStore) error {
			var err error
			ans, err = st.retry(args[0])
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		_, err = fmt.Fprintf(out, "%s re-queued: pending, due now\n", ans.Delivery.ID)
		return err
	case len(args) == 0 && stateName != "":
	default:
		return errors.New("give one delivery id, or --state failed|gone (and optionally --since) for all of them")
	}
	state, window, err := bulkRetryArgs(stateName, since)
	if err != nil {
		return err
	}
	var stores []storeRetried
	if err := withDeliveryStore(c, true, func(st deliveryStore) error {
		var err error
		stores, err = st.retryAll(state, window)
		return err
	}); err != nil {
		return err
	}
	total := 0
	for _, sr := range stores {
		if !sr.Open {
			fmt.Fprintf(out, "# store %s not open yet (locked by another process): nothing re-queued there\n", sr.Store)
		}
		for _, id := range sr.Retried {
			fmt.Fprintf(out, "%s re-queued\n", id)
		}
		total += len(sr.Retried)
	}
	what := fmt.Sprintf("%d %s deliveries", total, state)
	if window > 0 {
		what += " that became " + string(state) + " within " + cli.HumanDuration(window)
	}
	_, err = fmt.Fprintf(out, "%s re-queued: pending, due now\n", what)
	return err
}

// withDeliveryStore runs fn on the store named by --store (or the default
// one), read-only unless write, directly or through the admin API of the
// gateway that holds it.
func withDeliveryStore(c *cobra.Command, write bool, fn func(deliveryStore) error) error {
	path, _ := c.Flags().GetString("store")
	explicit := path != ""
	if !explicit {
		path = DefaultStorePath()
	}
	addr, _ := c.Flags().GetString("address")
	st, closeStore, err := openDeliveryStore(path, explicit, write, addr)
	if err != nil {
		return err
	}
	defer closeStore()
	err = fn(st)
	if as, ok := st.(adminStore); ok && as.store != "" && err != nil {
		return fmt.Errorf("%s is locked by a running process; through its admin API: %w", as.store, err)
	}
	return err
}
