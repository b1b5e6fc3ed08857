package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A stop lets the attempts in flight finish within the grace period: an
// attempt whose request the endpoint already has is decided by its answer
// (delivered, not sent again at the next start). An attempt still without
// an answer when the grace ends is cut short, logged as interrupted and
// left pending; a grace of -1 cuts it short at once.
func TestStopGrace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		grace      time.Duration
		answerLate bool // the endpoint answers only after Run returned
		want       State
	}{
		{"answer within the grace", time.Minute, false, StateDelivered},
		{"no answer within the grace", 50 * time.Millisecond, true, StatePending},
		{"no grace", -1, false, StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			answer := make(chan struct{})
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				arrived <- struct{}{}
				select {
				case <-answer:
					w.WriteHeader(http.StatusOK)
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()

			ob, _ := openTestOutbox(t, OutboxOptions{})
			d := newTestDelivery(t, srv.URL)
			mustEnqueue(t, ob, d)
			s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), StopGrace: tc.grace})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { defer close(ran); s.Run(ctx) }()

			<-arrived // the endpoint has the request: stop now
			cancel()
			if !tc.answerLate {
				close(answer)
			}
			<-ran
			if tc.answerLate {
				close(answer)
			}

			got, log, err := ob.Get(d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want {
				t.Fatalf("state %s after the stop, want %s (log %+v)", got.State, tc.want, log)
			}
			if tc.want == StatePending && (len(log) != 1 || log[0].Outcome != OutcomeInterrupted) {
				t.Fatalf("pending, but the log is %+v, want one interrupted attempt", log)
			}
			if n := requests.Load(); n != 1 {
				t.Fatalf("%d requests, want 1", n)
			}
		})
	}
}
