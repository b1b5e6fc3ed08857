// Package scgate is the package xcaddy imports to build Caddy with scgate:
//
//	xcaddy build --with github.com/scgate/scgate
//
// It registers both Caddy modules: the receiver gateway
// (http.handlers.screenshotcenter_webhook, the scgate_webhook app, the
// inbox's admin routes and the inbox subcommand) and the sender sidecar
// (http.handlers.screenshotcenter_sender, the scgate_sender app and the
// send, sign and deliveries subcommands). The logic lives in plain Go
// packages (verifier, webhook, gateway, dedupe, sender) that do not import
// Caddy.
package scgate

import (
	// The receiver gateway.
	_ "github.com/scgate/scgate/caddymodule/screenshotcenterwebhook"
	// The sender sidecar, its app and subcommands.
	_ "github.com/scgate/scgate/caddymodule/screenshotcentersender"
)
