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
			got, err := ReadBody(iotest.OneByteReader(bytes.NewReader(tt.body)), tt.cl, tt.max)
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
	_, err := ReadBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)), 1<<30, 1<<30)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a short body was accepted")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4*initialBodyBuffer {
		t.Fatalf("allocated %d bytes for a 3-byte body declared as 1 GiB", n)
	}
}
