// Package scgate is the package xcaddy imports to build Caddy with scgate:
//
//	xcaddy build --with github.com/scgate/scgate
//
// It registers both Caddy modules: the receiver gateway
// (http.handlers.screenshotcenter_webhook, with its event log's admin route
// admin.api.scgate_events and the events subcommand, its inbox's admin
// route admin.api.scgate_inbox and the inbox subcommand) and the sender sidecar
// (http.handlers.screenshotcenter_sender, the scgate_sender app and the
// send, sign and deliveries subcommands). The logic lives in plain Go
// packages (verifier, webhook, gateway, dedupe, sender) that do not import
// Caddy.
package scgate

import (
	// The receiver gateway.
	_ "github.com/scgate/scgate/caddymodule/screenshotcenterwebhook"
	// The event log's admin route and subcommand (the gateway imports it
	// too: it records into it).
	_ "github.com/scgate/scgate/caddymodule/scgateevents"
	// The sender sidecar, its app and subcommands.
	_ "github.com/scgate/scgate/caddymodule/screenshotcentersender"
	// The dashboard of the event logs, outboxes and inboxes.
	_ "github.com/scgate/scgate/caddymodule/screenshotcenterdashboard"
)
