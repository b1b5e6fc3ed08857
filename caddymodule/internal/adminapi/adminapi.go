// Package adminapi is what scgate's routes on Caddy's admin endpoint and
// the subcommands that call them share: errors and JSON answers on the
// serving side, requests and readable errors on the calling side.
package adminapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// maxAnswer bounds an answer Call decodes.
const maxAnswer = 64 << 20

// Error is an admin API error with status and a message that Caddy's
// admin endpoint answers as {"error": "..."}.
func Error(status int, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

// WriteJSON answers v as indented JSON.
func WriteJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Open sends a request to the admin endpoint at addr and returns the
// response of a successful one (its body for the caller to read and
// close); an error answer becomes an error saying what the endpoint said.
func Open(addr, method, uri string) (*http.Response, error) {
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %s", addr, Message(err))
	}
	return resp, nil
}

// Call is Open that decodes the JSON answer into out.
func Call(addr, method, uri string, out any) error {
	resp, err := Open(addr, method, uri)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("admin API at %s: decoding the answer: %w", addr, err)
	}
	return nil
}

// Message is the message of an admin API error: the "error" of the JSON
// answer that caddycmd quotes whole ("caddy responded with error: HTTP
// 404: {...}"), or the error itself.
func Message(err error) string {
	msg := err.Error()
	i := strings.IndexByte(msg, '{')
	var ans struct {
		Error string `json:"error"`
	}
	if i < 0 || json.Unmarshal([]byte(msg[i:]), &ans) != nil || ans.Error == "" {
		return msg
	}
	return ans.Error
}
