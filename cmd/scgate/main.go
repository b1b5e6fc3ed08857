// Command scgate is Caddy with the standard modules and the scgate plugin:
// the screenshotcenter_webhook receiver gateway and the screenshotcenter_sender
// sidecar with its send, sign and deliveries subcommands, and healthcheck for
// containers.
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
	setVersion()
	caddycmd.Main()
}
