// Command upstream is a small webhook handler to put behind the gateway. It
// stands for an application that already verifies signatures itself: the
// gateway forwards the body byte for byte with the original signature, so
// such a handler keeps working unchanged.
//
//	SCREENSHOTCENTER_WEBHOOK_SECRET=dev-secret-change-me go run ./examples/upstream
//
// It listens on 127.0.0.1:9090 (-addr to change) and logs each event.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	flag.Parse()

	var v *verifier.Verifier
	if s := os.Getenv("SCREENSHOTCENTER_WEBHOOK_SECRET"); s != "" {
		v, _ = verifier.New([][]byte{[]byte(s)})
	}

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		if v != nil {
			if _, err := v.Verify(body, r.Header.Values(webhook.HeaderSignature)); err != nil {
				log.Printf("refused: %v", err)
				http.Error(w, "invalid signature", http.StatusUnauthorized)
				return
			}
		}
		var payload struct {
			Event        string `json:"event"`
			ScreenshotID string `json:"screenshot_id"`
			ImageURL     string `json:"image_url"`
		}
		_ = json.Unmarshal(body, &payload)
		log.Printf("received %s screenshot_id=%s image_url=%s (verified by gateway: %s, key %q)",
			payload.Event, payload.ScreenshotID, payload.ImageURL,
			r.Header.Get("X-Scgate-Verified"), r.Header.Get("X-Scgate-Dedupe-Key"))
		if id := r.Header.Get("X-Scgate-Delivery-Id"); id != "" { // from a gateway's inbox
			log.Printf("  inbox delivery %s, attempt %s", id, r.Header.Get("X-Scgate-Delivery-Attempt"))
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok\n")
	})
	log.Printf("example upstream listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
