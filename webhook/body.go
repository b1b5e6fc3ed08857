package webhook

import (
	"errors"
	"io"
	"net/http"
)

// ErrBodyTooLarge is returned by ReadBody for a body over its limit.
var ErrBodyTooLarge = errors.New("body larger than the limit")

// initialBodyBuffer bounds what a declared Content-Length alone can make
// the gateway allocate: a client that sends headers and then stalls pins at
// most this much, not max_body. Larger bodies grow as their bytes arrive.
const initialBodyBuffer = 64 << 10

// ReadBody reads a whole body, never more than max+1 bytes. A body with a
// known length up to 64 KiB is read with exactly one allocation.
func ReadBody(body io.Reader, contentLength, max int64) ([]byte, error) {
	var buf []byte
	var err error
	if contentLength >= 0 {
		if contentLength > max {
			return nil, ErrBodyTooLarge
		}
		buf = make([]byte, 0, min(contentLength, initialBodyBuffer))
		buf, err = readUpTo(body, buf, contentLength)
		if err == nil && int64(len(buf)) != contentLength {
			err = io.ErrUnexpectedEOF
		}
	} else {
		buf, err = io.ReadAll(io.LimitReader(body, max+1))
		if err == nil && int64(len(buf)) > max {
			return nil, ErrBodyTooLarge
		}
	}
	if err != nil {
		// A request_body max_size before the gateway reports this way.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrBodyTooLarge
		}
		return nil, err
	}
	return buf, nil
}

// readUpTo appends from r to buf until it holds n bytes or r ends, growing
// buf as bytes arrive.
func readUpTo(r io.Reader, buf []byte, n int64) ([]byte, error) {
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))+512))
			copy(grown, buf)
			buf = grown
		}
		want := min(int64(cap(buf)), n)
		m, err := r.Read(buf[len(buf):want])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
