package screenshotcentersender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

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
		Usage: "--url <url> [--secret <secret>] [--event <name>] [--data <file>|-] [--attempts <n>] [--initial-backoff <duration>] [--timeout <duration>] [--allow-private]",
		Short: "Delivers one signed ScreenshotCenter webhook, retrying like the vendor",
		Long: `
Sends one webhook delivery in the foreground, exactly as ScreenshotCenter
does: a POST of the body with Content-Type: application/json,
X-ScreenshotCenter-Event and X-ScreenshotCenter-Signature (sha256=<hex
HMAC-SHA256 of the body>), plus a delivery id stable across attempts and
the attempt number. Only 2xx is success; redirects are not followed; 410
stops; 429/503 Retry-After is honoured. One line is printed per attempt.

Exit status: 0 when delivered, 1 when the attempts are exhausted, the
endpoint answered 410 Gone, or the input was invalid.

--secret defaults to $` + SecretEnv + `.
Without --data a realistic sample of --event (default screenshot.finished)
is sent, with a fresh screenshot_id and created_at now. With --data, the
file's bytes (or stdin for -) are sent unchanged; --event defaults to the
body's "event".

The SSRF guard refuses loopback, private and link-local addresses unless
--allow-private is given.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("url", "", "Endpoint URL (required)")
			cmd.Flags().String("secret", "", "Signing secret (default $"+SecretEnv+")")
			cmd.Flags().String("event", "", "Event name (default: the body's event, or screenshot.finished)")
			cmd.Flags().String("data", "", "File with the JSON body, or - for stdin (default: a sample event)")
			cmd.Flags().Int("attempts", sender.DefaultAttempts, "Attempts, the first included")
			cmd.Flags().Duration("initial-backoff", sender.DefaultBackoff[0], "Wait before the 2nd attempt; later waits scale like 10s, 1m, 5m, 30m")
			cmd.Flags().Duration("timeout", sender.DefaultTimeout, "Timeout of one attempt")
			cmd.Flags().Bool("allow-private", false, "Allow loopback, private and link-local addresses")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdSend)
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sign",
		Usage: "[--secret <secret>] [--data <file>|-]",
		Short: "Prints the X-ScreenshotCenter-Signature value of a body",
		Long: `
Prints sha256=<hex HMAC-SHA256(secret, body)> for the exact bytes of
--data (a file, or - for stdin, the default). --secret defaults to
$` + SecretEnv + `.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("secret", "", "Signing secret (default $"+SecretEnv+")")
			cmd.Flags().String("data", "-", "File with the body, or - for stdin")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdSign)
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "deliveries",
		Usage: "list|show <id>|retry <id> [--store <file>] [--address <admin address>]",
		Short: "Inspects and retries deliveries in a screenshotcenter_sender outbox",
		Long: `
Reads the bbolt outbox of the screenshotcenter_sender handler.

  list [--state pending|delivered|failed|gone] [--limit n]
  show <id>       the delivery (never its secret or body) and attempt log
  retry <id>      re-queue a failed or gone delivery with a fresh budget

When no scgate runs on the store, the file is read directly (list and
show open it read-only and change nothing in it). When a
running scgate holds it (bbolt locks the file), the same operations go
through that gateway's admin API (GET/POST /scgate/deliveries) at
--address, default ` + caddy.DefaultAdminListen + `; a retried delivery is
then sent at once. If the default store does not exist, every store of the
gateway at --address is listed.

--store defaults to scgate/outbox.db in Caddy's data directory.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("store", "", "Outbox file (default: in Caddy's data directory)")
			cmd.PersistentFlags().String("address", caddy.DefaultAdminListen, "Admin API address of the gateway holding the store")
			list := &cobra.Command{Use: "list", Short: "Lists deliveries", Args: cobra.NoArgs}
			list.Flags().String("state", "", "Only this state")
			list.Flags().Int("limit", 100, "At most this many per state (0: all)")
			list.RunE = func(c *cobra.Command, _ []string) error { return runDeliveries(c, "list", "") }
			show := &cobra.Command{Use: "show <id>", Short: "Shows a delivery and its attempts", Args: cobra.ExactArgs(1)}
			show.RunE = func(c *cobra.Command, args []string) error { return runDeliveries(c, "show", args[0]) }
			retry := &cobra.Command{Use: "retry <id>", Short: "Re-queues a failed or gone delivery", Args: cobra.ExactArgs(1)}
			retry.RunE = func(c *cobra.Command, args []string) error { return runDeliveries(c, "retry", args[0]) }
			cmd.AddCommand(list, show, retry)
		},
	})
}

func secretFlag(fl caddycmd.Flags) ([]byte, error) {
	s := fl.String("secret")
	if s == "" {
		s = os.Getenv(SecretEnv)
	}
	if s == "" {
		return nil, fmt.Errorf("a secret is required: --secret or $%s", SecretEnv)
	}
	return []byte(s), nil
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

func cmdSign(fl caddycmd.Flags) (int, error) {
	secret, err := secretFlag(fl)
	if err != nil {
		return 1, err
	}
	body, err := readData(fl.String("data"))
	if err != nil {
		return 1, err
	}
	fmt.Println(verifier.Sign(secret, body))
	return 0, nil
}

func cmdSend(fl caddycmd.Flags) (int, error) {
	endpoint := fl.String("url")
	if err := sender.CheckURL(endpoint); err != nil {
		return 1, fmt.Errorf("--url: %w", err)
	}
	secret, err := secretFlag(fl)
	if err != nil {
		return 1, err
	}
	attempts := fl.Int("attempts")
	backoff := fl.Duration("initial-backoff")
	timeout := fl.Duration("timeout")
	if attempts <= 0 || backoff <= 0 || timeout <= 0 {
		return 1, errors.New("--attempts, --initial-backoff and --timeout must be positive")
	}
	name := fl.String("event")
	var body []byte
	if data := fl.String("data"); data != "" {
		if body, err = readData(data); err != nil {
			return 1, err
		}
		fields, err := webhook.Parse(body)
		if err != nil {
			return 1, fmt.Errorf("--data: %w", err)
		}
		if name == "" {
			name = string(fields.Event)
		} else if name != string(fields.Event) {
			return 1, fmt.Errorf("--event %q differs from the body's event %q (receivers refuse that)", name, fields.Event)
		}
	} else {
		if name == "" {
			name = webhook.ScreenshotFinished
		}
		id, err := sampleID(name)
		if err != nil {
			return 1, err
		}
		if body, err = webhook.SampleBody(name, id, time.Now(), 0); err != nil {
			return 1, fmt.Errorf("%w; pass --data", err)
		}
	}
	client, err := sender.NewClient(sender.ClientOptions{Timeout: timeout, AllowPrivate: fl.Bool("allow-private")})
	if err != nil {
		return 1, err
	}
	d, err := sender.NewDelivery(endpoint, name, body, secret, time.Now())
	if err != nil {
		return 1, err
	}
	d.MaxAttempts = attempts
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("delivery %s: %s, %d bytes, to %s\n", d.ID, name, len(body), endpoint)
	state, err := sender.Deliver(ctx, client, sender.Schedule{Attempts: attempts, Backoff: sender.ScaledBackoff(backoff)}, d,
		func(d *sender.Delivery, a sender.Attempt) { fmt.Println(attemptLine(a, d.MaxAttempts)) })
	if err != nil {
		return 1, fmt.Errorf("interrupted: %w", err)
	}
	switch state {
	case sender.StateDelivered:
		fmt.Printf("delivered after %d attempt(s)\n", d.Attempts)
		return 0, nil
	case sender.StateGone:
		return 1, errors.New("endpoint answered 410 Gone: not retrying")
	default:
		if strings.Contains(d.LastError, sender.ErrForbiddenAddress.Error()) {
			return 1, errors.New("refused by the SSRF guard (pass --allow-private for a private or loopback endpoint)")
		}
		return 1, fmt.Errorf("failed after %d attempts", d.Attempts)
	}
}

func attemptLine(a sender.Attempt, max int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "attempt %d/%d: ", a.N, max)
	if a.Status != 0 {
		fmt.Fprintf(&b, "%d", a.Status)
	} else {
		b.WriteString("no response")
	}
	if a.Error != "" && a.Status == 0 {
		fmt.Fprintf(&b, " (%s)", a.Error)
	}
	fmt.Fprintf(&b, " in %s; %s", a.Latency.Round(time.Millisecond), a.Outcome)
	if a.Outcome == sender.OutcomeRetry {
		fmt.Fprintf(&b, ", next in %s", a.NextWait.Round(time.Millisecond))
		if a.RetryAfter > 0 {
			fmt.Fprintf(&b, " (Retry-After %s)", a.RetryAfter)
		}
	}
	return b.String()
}

// deliveryStore is an outbox read directly or through a running gateway's
// admin API.
type deliveryStore interface {
	// list returns the deliveries in states, up to limit per state, by
	// store.
	list(states []sender.State, limit int) ([]storeList, error)
	show(id string) (*deliveryAnswer, error)
	retry(id string) (*retryAnswer, error)
}

// fileStore is an outbox file opened by this process.
type fileStore struct{ ob *sender.Outbox }

func (f fileStore) list(states []sender.State, limit int) ([]storeList, error) {
	sl := storeList{Store: f.ob.Path(), Open: true}
	for _, st := range states {
		ds, err := f.ob.List(st, limit)
		if err != nil {
			return nil, err
		}
		sl.Deliveries = append(sl.Deliveries, ds...)
	}
	return []storeList{sl}, nil
}

func (f fileStore) show(id string) (*deliveryAnswer, error) {
	d, log, err := f.ob.Get(id)
	if err != nil {
		return nil, err
	}
	return &deliveryAnswer{Store: f.ob.Path(), Delivery: newView(d, log)}, nil
}

func (f fileStore) retry(id string) (*retryAnswer, error) {
	d, err := f.ob.Retry(id, time.Now())
	if err != nil {
		return nil, err
	}
	return &retryAnswer{Store: f.ob.Path(), Delivery: d}, nil
}

// adminStore is the admin API of a running gateway; store, if set, selects
// one of its outboxes.
type adminStore struct{ addr, store string }

func (a adminStore) call(method, path string, q url.Values, out any) error {
	if a.store != "" {
		q.Set("store", a.store)
	}
	uri := adminBase + path
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	resp, err := caddycmd.AdminAPIRequest(a.addr, method, uri, nil, nil)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", a.addr, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("admin API at %s: decoding the answer: %w", a.addr, err)
	}
	return nil
}

func (a adminStore) list(states []sender.State, limit int) ([]storeList, error) {
	var out []storeList
	for _, st := range states {
		var ans listAnswer
		if err := a.call(http.MethodGet, "", url.Values{"state": {string(st)}, "limit": {strconv.Itoa(limit)}}, &ans); err != nil {
			return nil, err
		}
		if out == nil {
			out = ans.Stores
			continue
		}
		for i := range out {
			if i < len(ans.Stores) && ans.Stores[i].Store == out[i].Store {
				out[i].Deliveries = append(out[i].Deliveries, ans.Stores[i].Deliveries...)
			}
		}
	}
	return out, nil
}

func (a adminStore) show(id string) (*deliveryAnswer, error) {
	var ans deliveryAnswer
	if err := a.call(http.MethodGet, "/"+url.PathEscape(id), url.Values{}, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

func (a adminStore) retry(id string) (*retryAnswer, error) {
	var ans retryAnswer
	if err := a.call(http.MethodPost, "/"+url.PathEscape(id)+"/retry", url.Values{}, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// openDeliveryStore opens the outbox file (read-only unless write), or,
// when a running gateway holds it (or the default store does not exist),
// that gateway's admin API.
func openDeliveryStore(path string, explicit, write bool, addr string) (deliveryStore, func(), error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("outbox %s: %w", abs, err)
		}
		// No default store here: ask the gateway about all of its stores.
		return adminStore{addr: addr}, func() {}, nil
	}
	ob, err := sender.OpenOutbox(abs, sender.OutboxOptions{LockTimeout: 100 * time.Millisecond, ReadOnly: !write})
	if errors.Is(err, sender.ErrStoreLocked) {
		return adminStore{addr: addr, store: abs}, func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return fileStore{ob}, func() { ob.Close() }, nil
}

func runDeliveries(c *cobra.Command, op, id string) (err error) {
	c.SilenceUsage = true
	path, _ := c.Flags().GetString("store")
	explicit := path != ""
	if !explicit {
		path = DefaultStorePath()
	}
	addr, _ := c.Flags().GetString("address")
	// Only retry changes the store; list and show open it read-only.
	st, closeStore, err := openDeliveryStore(path, explicit, op == "retry", addr)
	if err != nil {
		return err
	}
	defer closeStore()
	if as, ok := st.(adminStore); ok && as.store != "" {
		defer func() {
			if err != nil {
				err = fmt.Errorf("%s is locked by a running process; through its admin API: %w", as.store, err)
			}
		}()
	}
	out := c.OutOrStdout()
	switch op {
	case "list":
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
		stores, err := st.list(states, limit)
		if err != nil {
			return err
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
				next := "-"
				if !d.NextAttempt.IsZero() {
					next = d.NextAttempt.Format(time.RFC3339)
				}
				last := "-"
				if d.LastStatus != 0 {
					last = fmt.Sprint(d.LastStatus)
				} else if d.LastError != "" {
					last = "error"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.State, d.Event, d.Attempts, last, next, d.URL)
			}
		}
		return tw.Flush()
	case "show":
		ans, err := st.show(id)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(ans.Delivery)
	case "retry":
		ans, err := st.retry(id)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		fmt.Fprintf(out, "%s re-queued: pending, due now\n", ans.Delivery.ID)
		return nil
	}
	return nil
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
