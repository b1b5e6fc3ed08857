package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// Past the bound, a stream of a connection whose other bodies are still
// being read is refused at once; other connections, HTTP/1 requests and
// the same connection once a body is in are not.
func TestStreamsBoundBodiesReadPerConnection(t *testing.T) {
	var streams Streams
	streams.SetLimit(1)
	c := newChecker(t, func(c *Checker) { c.Streams = &streams })
	body := `{"event":"screenshot.finished","screenshot_id":"s1"}`
	req := func(proto int, remote string, r io.Reader) *http.Request {
		q := signedRequest(http.MethodPost, body)
		q.ProtoMajor, q.RemoteAddr = proto, remote
		q.Body = io.NopCloser(r)
		return q
	}

	// A stream whose body has not arrived yet.
	pr, pw := io.Pipe()
	waiting := make(chan *Rejection, 1)
	go func() {
		_, rej := c.Check(req(2, "192.0.2.1:1000", pr), Source{}, time.Now())
		waiting <- rej
	}()
	// It holds the connection's one place once Check reads it; until then a
	// second stream may still get through, so wait for the refusal.
	eventually.Succeeds(t, 10*time.Second, func() error {
		switch _, rej := c.Check(req(2, "192.0.2.1:1000", strings.NewReader(body)), Source{}, time.Now()); rej {
		case ErrTooManyStreams:
			return nil
		case nil:
			return errors.New("the first stream is not being read yet")
		default:
			return eventually.Stop(fmt.Errorf("second stream of the connection: %v", rej))
		}
	})
	if _, rej := c.Check(req(2, "192.0.2.1:2000", strings.NewReader(body)), Source{}, time.Now()); rej != nil {
		t.Fatalf("a stream of another connection: %v", rej)
	}
	if _, rej := c.Check(req(2, "192.0.2.1:1000", strings.NewReader(body)), Source{ClientIP: "198.51.100.7"}, time.Now()); rej != nil {
		t.Fatalf("another client behind the same proxy connection: %v", rej)
	}
	if _, rej := c.Check(req(1, "192.0.2.1:1000", strings.NewReader(body)), Source{}, time.Now()); rej != nil {
		t.Fatalf("an HTTP/1.1 request: %v", rej)
	}
	io.WriteString(pw, body)
	pw.Close()
	if rej := <-waiting; rej != nil {
		t.Fatalf("the waiting stream, once its body came: %v", rej)
	}
	if _, rej := c.Check(req(2, "192.0.2.1:1000", strings.NewReader(body)), Source{}, time.Now()); rej != nil {
		t.Fatalf("a stream after the first was read: %v", rej)
	}
	if len(streams.open) != 0 {
		t.Fatalf("connections still counted: %v", streams.open)
	}
}
