package sender

import (
	"context"
	"net/http"
	"testing"
)

func TestDeliverForeground(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		attempts int
		want     State
		wantReqs int
	}{
		{"success", func(int) int { return 200 }, 5, StateDelivered, 1},
		{"fail twice then success", func(n int) int {
			if n <= 2 {
				return 500
			}
			return 202
		}, 5, StateDelivered, 3},
		{"always failing", func(int) int { return 502 }, 4, StateFailed, 4},
		{"gone stops", func(int) int { return 410 }, 5, StateGone, 1},
		{"redirect is a failure", func(int) int { return 302 }, 3, StateFailed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, _ *http.Request, _ http.ResponseWriter) int { return tt.status(n) })
			c := testClient(t, ClientOptions{})
			d := newTestDelivery(t, rc.URL)
			d.MaxAttempts = tt.attempts
			var log []Attempt
			st, err := Deliver(context.Background(), c, instantSchedule, d,
				func(_ *Delivery, a Attempt) { log = append(log, a) })
			if err != nil || st != tt.want {
				t.Fatalf("Deliver = %s, %v; want %s", st, err, tt.want)
			}
			reqs := rc.requests()
			if len(reqs) != tt.wantReqs || len(log) != tt.wantReqs {
				t.Fatalf("requests %d, log %d; want %d", len(reqs), len(log), tt.wantReqs)
			}
			for i, r := range reqs {
				checkSigned(t, r, []byte(sampleBody), d.ID)
				if r.Attempt != i+1 || log[i].N != i+1 {
					t.Errorf("attempt %d: header %d, log %d", i+1, r.Attempt, log[i].N)
				}
			}
		})
	}
}
