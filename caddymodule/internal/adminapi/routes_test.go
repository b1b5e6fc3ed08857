package adminapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/sender"
)

func TestParts(t *testing.T) {
	for _, tt := range []struct {
		path string
		want int
	}{{"/scgate/inbox", 0}, {"/scgate/inbox/", 0}, {"/scgate/inbox/id", 1}, {"/scgate/inbox/id/replay", 2}} {
		if got := Parts(tt.path, "/scgate/inbox"); len(got) != tt.want {
			t.Errorf("Parts(%q) = %q, want %d parts", tt.path, got, tt.want)
		}
	}
}

// A 405 reaches Caddy as its API error, with Allow set.
func TestHandlerSetsAllow(t *testing.T) {
	h := Handler(func(http.ResponseWriter, *http.Request) error { return NotAllowed(http.MethodDelete, http.MethodGet) })
	rec := httptest.NewRecorder()
	err := h.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/x", nil))
	api, ok := err.(caddy.APIError)
	if !ok || api.HTTPStatus != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodGet {
		t.Fatalf("%#v, Allow %q: want a 405 APIError and Allow GET", err, rec.Header().Get("Allow"))
	}
}

func TestArgs(t *testing.T) {
	if s, err := Store("rel/inbox.db"); err == nil {
		t.Errorf("Store of a relative path = %q", s)
	}
	if s, err := Store("/a/../b/inbox.db"); err != nil || s != "/b/inbox.db" {
		t.Errorf("Store = %q, %v", s, err)
	}
	if states, limit, err := ListArgs("", "", 100); err != nil || len(states) != len(sender.States) || limit != 100 {
		t.Errorf("ListArgs defaults = %v %d %v", states, limit, err)
	}
	if states, limit, err := ListArgs("failed", "0", 100); err != nil || len(states) != 1 || states[0] != sender.StateFailed || limit != 0 {
		t.Errorf("ListArgs failed 0 = %v %d %v", states, limit, err)
	}
	for _, bad := range [][2]string{{"lost", ""}, {"", "-1"}, {"", "x"}} {
		if _, _, err := ListArgs(bad[0], bad[1], 100); err == nil {
			t.Errorf("ListArgs(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if d, err := Since("2d"); err != nil || d != 48*time.Hour {
		t.Errorf("Since(2d) = %v, %v", d, err)
	}
	for _, bad := range []string{"-1h", "0s", "soon"} {
		if _, err := Since(bad); err == nil {
			t.Errorf("Since(%q) accepted", bad)
		}
	}
}
