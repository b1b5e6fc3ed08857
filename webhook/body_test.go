package webhook

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 200<<10)
	tests := []struct {
		name    string
		body    []byte
		cl      int64
		max     int64
		wantLen int
		wantErr bool
	}{
		{"small exact", []byte("hello"), 5, 100, 5, false},
		{"empty", nil, 0, 100, 0, false},
		{"larger than the initial buffer", big, int64(len(big)), 1 << 20, len(big), false},
		{"shorter than declared", []byte("abc"), 10, 100, 0, true},
		{"declared over max", []byte("abc"), 101, 100, 0, true},
		{"chunked within max", big[:100], -1, 100, 100, false},
		{"chunked over max", big[:101], -1, 100, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader makes every Read short, as a slow client would.
			got, err := ReadBody(iotest.OneByteReader(bytes.NewReader(tt.body)), tt.cl, tt.max, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (len(got) != tt.wantLen || !bytes.Equal(got, tt.body[:tt.wantLen])) {
				t.Fatalf("read %d bytes, want %d identical ones", len(got), tt.wantLen)
			}
		})
	}
}

// A declared Content-Length alone must not make the gateway allocate it:
// a client that sends headers and a few bytes costs the first buffer, not
// the declared size.
func TestReadBodyDoesNotTrustContentLength(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)), 1<<30, 1<<30, nil)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a short body was accepted")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8*firstBuffer {
		t.Fatalf("allocated %d bytes for a 3-byte body declared as 1 GiB", n)
	}
}

// A body holds its share of the budget once its bytes arrive; a body that
// does not fit is refused (and holds nothing), and released bytes make
// room again.
func TestReadBodyBudget(t *testing.T) {
	var b Budget
	b.SetLimits(100<<10, 0)
	h := b.Hold("a")
	first, err := ReadBody(strings.NewReader(strings.Repeat("a", 60<<10)), 60<<10, 1<<20, &h)
	if err != nil || len(first) != 60<<10 || h.Held() != 60<<10 || b.Used() != h.Held() {
		t.Fatalf("first body: %d bytes, held %d, used %d, %v", len(first), h.Held(), b.Used(), err)
	}
	h2 := b.Hold("b")
	if _, err := ReadBody(strings.NewReader(strings.Repeat("b", 60<<10)), 60<<10, 1<<20, &h2); err != ErrBufferFull {
		t.Fatalf("second body while the first is held: %v, want ErrBufferFull", err)
	}
	// Chunked: it grows as bytes arrive, until the budget stops it.
	h3 := b.Hold("c")
	if _, err := ReadBody(strings.NewReader(strings.Repeat("c", 60<<10)), -1, 1<<20, &h3); err != ErrBufferFull {
		t.Fatalf("chunked body past the budget: %v, want ErrBufferFull", err)
	}
	if b.Used() != h.Held() || h2.Held() != 0 || h3.Held() != 0 {
		t.Fatalf("refused bodies still hold %d bytes", b.Used()-h.Held())
	}
	h.Release()
	h4 := b.Hold("d")
	if _, err := ReadBody(strings.NewReader(strings.Repeat("d", 60<<10)), -1, 1<<20, &h4); err != nil || b.Used() != h4.Held() {
		t.Fatalf("after the release: %v (used %d, held %d)", err, b.Used(), h4.Held())
	}
}

// notifyReader tells, before each Read, that the reader is about to wait
// for bytes.
type notifyReader struct {
	r       io.Reader
	reading chan<- struct{}
}

func (n notifyReader) Read(p []byte) (int, error) {
	n.reading <- struct{}{}
	return n.r.Read(p)
}

// The budget is charged for bytes received, not declared: a body declared
// as 1 MiB that sent nothing holds nothing, and after that its buffer is
// at most twice what arrived (the audit's flood of header-only requests
// took 64 KiB each).
func TestReadBodyChargesBytesReceivedNotDeclared(t *testing.T) {
	var b Budget
	b.SetLimits(64<<20, 0)
	pr, pw := io.Pipe()
	reading := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		h := b.Hold("client")
		_, err := ReadBody(notifyReader{pr, reading}, 1<<20, 1<<20, &h)
		done <- err
	}()
	// Each write fills what the buffer has left, so ReadBody reads it whole
	// before it waits again.
	for _, step := range []struct {
		send     int
		wantUsed int64
	}{
		{0, 0},                     // headers only: nothing held
		{1, firstBuffer},           // the first byte: the first buffer
		{firstBuffer - 1, 2 << 10}, // the first buffer full: twice it, before reading on
		{1 << 10, 4 << 10},         // and again
	} {
		if step.send > 0 {
			if _, err := pw.Write(bytes.Repeat([]byte("x"), step.send)); err != nil {
				t.Fatal(err)
			}
		}
		<-reading // ReadBody waits for more bytes
		if got := b.Used(); got != step.wantUsed {
			t.Fatalf("after %d more bytes the body holds %d bytes of the budget, want %d", step.send, got, step.wantUsed)
		}
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil {
		t.Fatal("a body cut short was accepted")
	}
	if b.Used() != 0 {
		t.Fatalf("a failed body still holds %d bytes", b.Used())
	}
}

// One client's bodies hold at most its share, so the other clients' still
// fit; the whole budget bounds them all.
func TestBudgetClientShare(t *testing.T) {
	var b Budget
	b.SetLimits(100<<10, 40<<10)
	read := func(client string, size int) (Hold, error) {
		h := b.Hold(client)
		_, err := ReadBody(strings.NewReader(strings.Repeat("x", size)), int64(size), 1<<20, &h)
		return h, err
	}
	a1, err := read("a", 30<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := read("a", 20<<10); err != ErrClientShareFull {
		t.Fatalf("a second body of the same client past its share: %v, want ErrClientShareFull", err)
	}
	b1, err := read("b", 35<<10)
	if err != nil {
		t.Fatalf("another client's body while the first holds its share: %v", err)
	}
	if _, err := read("c", 40<<10); err != ErrBufferFull {
		t.Fatalf("a third client's body past the whole budget: %v, want ErrBufferFull", err)
	}
	if got, want := b.Used(), a1.Held()+b1.Held(); got != want {
		t.Fatalf("used %d, want %d (the bodies read)", got, want)
	}
	a1.Release()
	b1.Release()
	if b.Used() != 0 || len(b.clients) != 0 {
		t.Fatalf("after every release: used %d, %d clients remembered", b.Used(), len(b.clients))
	}
}
