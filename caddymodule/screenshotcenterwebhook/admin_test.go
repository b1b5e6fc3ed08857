package screenshotcenterwebhook

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"
)

// The arguments of a bulk replay: a state that can be replayed, and a
// time range from since or from, and to.
func TestReplayArgs(t *testing.T) {
	now := time.Date(2026, 2, 22, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		state, since, from, to string
		wantFrom, wantTo       time.Time
		wantErr                string
	}{
		{state: "failed", wantFrom: time.Time{}, wantTo: time.Time{}},
		{state: "failed", since: "2h", wantFrom: now.Add(-2 * time.Hour)},
		{state: "delivered", from: "2026-02-22T14:00:00Z", to: "2026-02-22T15:00:00Z",
			wantFrom: time.Date(2026, 2, 22, 14, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 2, 22, 15, 0, 0, 0, time.UTC)},
		{state: "", wantErr: "say which entries to replay"},
		{state: "pending", wantErr: "pending entries are queued already"},
		{state: "lost", wantErr: `unknown state "lost"`},
		{state: "failed", since: "-1h", wantErr: "since must be a positive duration"},
		{state: "failed", since: "1h", from: "2026-02-22T14:00:00Z", wantErr: "since or from, not both"},
		{state: "failed", from: "yesterday", wantErr: "from must be an RFC 3339 time"},
		{state: "failed", from: "2026-02-22T15:00:00Z", to: "2026-02-22T14:00:00Z", wantErr: "the time range is empty"},
	}
	for _, tt := range tests {
		_, from, to, err := replayArgs(tt.state, tt.since, tt.from, tt.to, now)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v: error %v, want %q", tt, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || !from.Equal(tt.wantFrom) || !to.Equal(tt.wantTo)):
			t.Errorf("%+v: %v, %v, %v; want %v, %v", tt, from, to, err, tt.wantFrom, tt.wantTo)
		}
	}
}

// Every route answers its method only, with Allow on a 405, and 404 past
// them.
func TestInboxRoutes(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, "/scgate/inbox", 405, "GET"},
		{http.MethodGet, "/scgate/inbox/replay", 405, "POST"},
		{http.MethodDelete, "/scgate/inbox/some-id", 405, "GET"},
		{http.MethodGet, "/scgate/inbox/some-id/replay", 405, "POST"},
		{http.MethodGet, "/scgate/inbox/some-id/other", 404, ""},
		{http.MethodGet, "/scgate/inbox/some-id", 404, ""},
		{http.MethodGet, "/scgate/inbox?limit=-1", 400, ""},
		{http.MethodGet, "/scgate/inbox/retry", 405, "POST"},
		{http.MethodGet, "/scgate/inbox/some-id/retry", 405, "POST"},
		{http.MethodPost, "/scgate/inbox/retry", 400, ""},
		{http.MethodPost, "/scgate/inbox/retry?state=failed", 400, ""},
		{http.MethodPost, "/scgate/inbox/some-id/retry", 404, ""},
	} {
		u, _ := url.Parse(tt.path)
		_, err := answerInbox(nil, tt.method, u.Path, u.Query(), time.Now())
		var me adminapi.MethodError
		status := 0
		if api, ok := asAPIError(err, &me); ok {
			status = api.HTTPStatus
		}
		if status != tt.status || me.Allow != tt.allow {
			t.Errorf("%s %s: %v (allow %q), want %d (allow %q)", tt.method, tt.path, err, me.Allow, tt.status, tt.allow)
		}
	}
}

// asAPIError returns the admin API error in err, and fills me if it is a
// 405.
func asAPIError(err error, me *adminapi.MethodError) (caddy.APIError, bool) {
	if e, ok := err.(adminapi.MethodError); ok {
		*me = e
		err = e.Unwrap()
	}
	api, ok := err.(caddy.APIError)
	return api, ok
}
