package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// defaultHealthcheckTimeout bounds one health check; container runtimes
// kill a check after their own timeout (Docker: 30s), so it is shorter.
const defaultHealthcheckTimeout = 5 * time.Second

// adminHealthPath is asked on the admin endpoint: it answers 200 whenever
// the process runs its admin API, with or without a config.
const adminHealthPath = "/config/"

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "healthcheck",
		Usage: "[--url <url>] [--address <admin address>] [--timeout <duration>]",
		Short: "Exits 0 if the running scgate answers, 1 if not (a container health check)",
		Long: `
Asks a running scgate whether it is up, for container health checks and
Kubernetes exec probes in images without a shell:

  HEALTHCHECK CMD ["/usr/bin/scgate", "healthcheck"]

Without --url it sends GET ` + adminHealthPath + ` to the admin endpoint: --address,
else $CADDY_ADMIN, else localhost:2019. With --url it sends GET to that URL
instead, for example a route of your site that answers 200, which also
shows that the site's listener serves. Redirects are not followed and no
proxy is used. The response body is never printed.

Exit status: 0 when the answer is 2xx, 1 otherwise; one sentence says
which (stdout on success, stderr on failure).`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("url", "", "URL to GET instead of the admin endpoint")
			cmd.Flags().String("address", "", "Admin endpoint address (default: $CADDY_ADMIN, or localhost:2019)")
			cmd.Flags().Duration("timeout", defaultHealthcheckTimeout, "Give up after this long")
			cmd.Args = cobra.NoArgs
			cmd.RunE = runHealthcheck
		},
	})
}

// errUnhealthy makes caddycmd.Main exit with status 1 once the reason is
// printed.
var errUnhealthy = errors.New("unhealthy")

func runHealthcheck(c *cobra.Command, _ []string) error {
	c.SilenceUsage = true
	c.SilenceErrors = true
	fl := c.Flags()
	target, _ := fl.GetString("url")
	timeout, _ := fl.GetDuration("timeout")
	var verdict string
	var err error
	if target != "" {
		verdict, err = checkURL(target, timeout)
	} else {
		address, _ := fl.GetString("address")
		verdict, err = checkAdmin(address, timeout)
	}
	if err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "scgate healthcheck: %v.\n", err)
		return errUnhealthy
	}
	fmt.Fprintf(c.OutOrStdout(), "scgate healthcheck: %s.\n", verdict)
	return nil
}

// checkURL sends GET to target and accepts only a 2xx answer.
func checkURL(target string, timeout time.Duration) (string, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q is not an http:// or https:// URL", target)
	}
	client := &http.Client{
		Timeout: timeout,
		// A health check asks this host, never a proxy from the
		// environment, and judges the first answer it gets.
		Transport: &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Get(target)
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Timeout() {
		return "", fmt.Errorf("%s did not answer within %v", target, timeout)
	} else if ok {
		// The sentence already names the URL that url.Error repeats.
		return "", fmt.Errorf("%s could not be reached: %v", target, ue.Err)
	} else if err != nil {
		return "", fmt.Errorf("%s could not be reached: %v", target, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return fmt.Sprintf("%s answered %s", target, resp.Status), nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return "", fmt.Errorf("%s answered %s, a redirect to %q, which is not followed", target, resp.Status, resp.Header.Get("Location"))
	default:
		return "", fmt.Errorf("%s answered %s, not 2xx", target, resp.Status)
	}
}

// checkAdmin sends GET /config/ to the admin endpoint through Caddy's own
// admin client (TCP or unix socket, with the Origin the endpoint expects).
func checkAdmin(addr string, timeout time.Duration) (string, error) {
	if addr == "" {
		addr = caddy.DefaultAdminListen // $CADDY_ADMIN if set
	}
	type answer struct {
		resp *http.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, adminHealthPath, nil, nil)
		done <- answer{resp, err}
	}()
	// AdminAPIRequest has no timeout of its own; the process exits
	// right after a verdict, which ends a request still waiting.
	select {
	case a := <-done:
		if a.err != nil {
			return "", fmt.Errorf("the admin endpoint %s did not answer 2xx: %v", addr, a.err)
		}
		a.resp.Body.Close()
		if a.resp.StatusCode < 200 || a.resp.StatusCode >= 300 {
			return "", fmt.Errorf("the admin endpoint %s answered %s, not 2xx", addr, a.resp.Status)
		}
		return fmt.Sprintf("the admin endpoint %s answered %s", addr, a.resp.Status), nil
	case <-time.After(timeout):
		return "", fmt.Errorf("the admin endpoint %s did not answer within %v", addr, timeout)
	}
}
