package sameorigin

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		tls     bool
		headers map[string][]string
		want    error
	}{
		{"no browser headers", "127.0.0.1:8081", false, nil, nil},
		{"same origin", "127.0.0.1:8081", false, map[string][]string{"Origin": {"http://127.0.0.1:8081"}, "Sec-Fetch-Site": {"same-origin"}}, nil},
		{"same origin, host in capitals", "LOCALHOST:8081", false, map[string][]string{"Origin": {"http://localhost:8081"}}, nil},
		{"default port written out", "localhost", false, map[string][]string{"Origin": {"http://localhost:80"}}, nil},
		{"default https port", "localhost:443", true, map[string][]string{"Origin": {"https://localhost"}}, nil},
		{"IPv6", "[::1]:8081", false, map[string][]string{"Origin": {"http://[::1]:8081"}}, nil},
		{"user-initiated", "localhost:8081", false, map[string][]string{"Sec-Fetch-Site": {"none"}}, nil},
		{"another port", "localhost:8081", false, map[string][]string{"Origin": {"http://localhost:3000"}}, ErrOtherOrigin},
		{"another host", "localhost:8081", false, map[string][]string{"Origin": {"http://127.0.0.1:8081"}}, ErrOtherOrigin},
		{"another scheme", "localhost:8081", false, map[string][]string{"Origin": {"https://localhost:8081"}}, ErrOtherOrigin},
		{"http page to a TLS server", "localhost:443", true, map[string][]string{"Origin": {"http://localhost:443"}}, ErrOtherOrigin},
		{"opaque origin", "localhost:8081", false, map[string][]string{"Origin": {"null"}}, ErrOtherOrigin},
		{"not an origin", "localhost:8081", false, map[string][]string{"Origin": {"http://localhost:8081/page"}}, ErrOtherOrigin},
		{"user info", "localhost:8081", false, map[string][]string{"Origin": {"http://u@localhost:8081"}}, ErrOtherOrigin},
		{"a second, foreign Origin", "localhost:8081", false, map[string][]string{"Origin": {"http://localhost:8081", "http://evil.example"}}, ErrOtherOrigin},
		{"same-site (another port)", "localhost:8081", false, map[string][]string{"Sec-Fetch-Site": {"same-site"}}, ErrOtherSiteFetch},
		{"cross-site", "localhost:8081", false, map[string][]string{"Sec-Fetch-Site": {"cross-site"}}, ErrOtherSiteFetch},
		{"unknown value", "localhost:8081", false, map[string][]string{"Sec-Fetch-Site": {"same-ish"}}, ErrOtherSiteFetch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodPost, "http://"+tt.host+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r.Header = tt.headers
			if got := Check(r); got != tt.want {
				t.Fatalf("Check = %v, want %v", got, tt.want)
			}
		})
	}
}
