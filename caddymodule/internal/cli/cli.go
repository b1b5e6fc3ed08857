// Package cli is what scgate's subcommands share: one line on stderr for
// an error, JSON for scripts, and times and durations as people read them.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// errReported tells cobra that the command failed after it said why:
// Main exits with status 1 and prints nothing more.
var errReported = errors.New("error reported")

// ReportErrors runs a subcommand and writes its error, if any, as one line
// on stderr ("scgate send: ..."), instead of a JSON line of Caddy's
// logger or cobra's usage text.
func ReportErrors(run func(c *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		c.SilenceUsage = true
		err := run(c, args)
		if err == nil {
			return nil
		}
		c.SilenceErrors = true
		fmt.Fprintf(c.ErrOrStderr(), "%s: %v\n", c.CommandPath(), err)
		return errReported
	}
}

// PrintJSON writes v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// HumanDuration writes d as people read it: 850ms, 12s, 1m30s, 2h, 1h5m.
func HumanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		d = d.Round(time.Microsecond)
	case d < time.Second:
		d = d.Round(time.Millisecond)
	case d < time.Minute:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// LocalTime writes t in local time, or "-" for a zero time.
func LocalTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}
