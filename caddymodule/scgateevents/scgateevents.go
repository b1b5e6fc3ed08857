// Package scgateevents is the Caddy glue of the process's event log: the
// one ring (package eventlog) that every screenshotcenter_webhook handler
// of the process records its answered requests into, the admin route that
// reads it (admin.api.scgate_events, GET /scgate/events in admin.go) and
// the `scgate events` subcommand (command.go).
//
// It is a package of its own, not part of the receiver's glue, because the
// log belongs to the process rather than to one handler: the receivers
// write it, and its readers (the admin route, the command, a dashboard)
// need not import a handler to read it (the dashboard reads it through
// caddymodule/internal/registry).
package scgateevents

import (
	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/eventlog"
)

// process is the event log of the process. It holds nothing until a
// config that records into it starts (SetSize), and it outlives reloads:
// a new config keeps what the old one recorded. The dashboard finds it in
// the registry, as "webhook".
var process eventlog.Log

func init() {
	registry.AddEventLog("webhook", &process)
}

// Log returns the process's event log.
func Log() *eventlog.Log { return &process }
