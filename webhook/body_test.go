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
			got, _, err := ReadBody(iotest.OneByteReader(bytes.NewReader(tt.body)), tt.cl, tt.max, nil)
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
// a client that sends headers and a few bytes costs the initial buffer, not
// the declared size.
func TestReadBodyDoesNotTrustContentLength(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := ReadBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)), 1<<30, 1<<30, nil)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a short body was accepted")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4*initialBodyBuffer {
		t.Fatalf("allocated %d bytes for a 3-byte body declared as 1 GiB", n)
	}
}

// A body holds its share of the budget from its first byte; a body that
// does not fit is refused (and holds nothing), and released bytes make
// room again.
func TestReadBodyBudget(t *testing.T) {
	var b Budget
	b.SetLimit(100 << 10)
	first, held, err := ReadBody(strings.NewReader(strings.Repeat("a", 60<<10)), 60<<10, 1<<20, &b)
	if err != nil || len(first) != 60<<10 || held < 60<<10 || b.Used() != held {
		t.Fatalf("first body: %d bytes, held %d, used %d, %v", len(first), held, b.Used(), err)
	}
	if _, _, err := ReadBody(strings.NewReader(strings.Repeat("b", 60<<10)), 60<<10, 1<<20, &b); err != ErrBufferFull {
		t.Fatalf("second body while the first is held: %v, want ErrBufferFull", err)
	}
	// Chunked: it grows as bytes arrive, until the budget stops it.
	if _, _, err := ReadBody(strings.NewReader(strings.Repeat("c", 60<<10)), -1, 1<<20, &b); err != ErrBufferFull {
		t.Fatalf("chunked body past the budget: %v, want ErrBufferFull", err)
	}
	if b.Used() != held {
		t.Fatalf("refused bodies still hold %d bytes", b.Used()-held)
	}
	b.Release(held)
	if _, held, err := ReadBody(strings.NewReader(strings.Repeat("d", 60<<10)), -1, 1<<20, &b); err != nil || b.Used() != held {
		t.Fatalf("after the release: %v (used %d, held %d)", err, b.Used(), held)
	}
}
