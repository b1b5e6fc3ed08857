// Command scgate is Caddy with the standard modules and the scgate plugin:
// the screenshotcenter_webhook receiver gateway with its inbox subcommand and
// the screenshotcenter_sender sidecar with its send, sign and deliveries
// subcommands, and healthcheck for containers.
//
//	scgate run --config Caddyfile.example
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/scgate/scgate"
)

func main() {
	// Help and usage lines say `scgate send`, not `caddy send`.
	caddy.CustomBinaryName = "scgate"
	caddy.CustomLongDescription = longDescription
	setVersion()
	caddycmd.Main()
}

// longDescription is the root command's help text.
const longDescription = `scgate is Caddy with a webhook gateway for ScreenshotCenter webhooks.

In front of an existing handler, the screenshotcenter_webhook directive verifies the
signature over the raw body, rejects bad input with a clear status and reason, drops
retried and replayed duplicates (in memory, or in Redis across replicas) and forwards
only valid, first-seen events, or, in inbox mode, acknowledges them once on disk and
delivers them with retries (the inbox command lists and replays them). The
screenshotcenter_sender directive and the send, sign and deliveries commands sign and
deliver webhooks durably.

Run the gateway with a Caddyfile:

	scgate run --config Caddyfile

Everything else Caddy does works as in Caddy (its standard modules are included).
Documentation: https://github.com/scgate/scgate`
