package webhook

import (
	"errors"
	"io"
	"net/http"
)

// DefaultMaxBody is the default largest body, in bytes, that the receiver
// gateway and the sender sidecar accept: 1 MiB (their max_body option).
const DefaultMaxBody = 1 << 20

// ErrBodyTooLarge is returned by ReadBody for a body over its limit.
var ErrBodyTooLarge = errors.New("body larger than the limit")

// firstBuffer is the size of a body's first buffer (or its length, if
// smaller). It is allocated before any byte arrived but charged to the
// Budget only once the first byte is in, so a client that sends headers
// declaring a large body and then stalls holds no budget, and at most this
// much memory besides what the connection itself costs. Every later buffer
// is at most twice the bytes received.
const firstBuffer = 1 << 10

// ReadBody reads a whole body, never more than max+1 bytes. The bytes it
// keeps are charged to hold (nil: no budget) as they arrive: its first
// buffer once the first byte is in, each larger one (twice the last, so
// never more than twice what arrived) before it is used; when the budget
// or the client's share cannot take it, ReadBody stops with ErrBufferFull
// or ErrClientShareFull. The caller releases hold once it is done with the
// body. On an error hold is released, and buf has the bytes read until
// then. A body of up to 1 KiB is read with one allocation.
func ReadBody(body io.Reader, contentLength, max int64, hold *Hold) (buf []byte, err error) {
	limit := max + 1
	if contentLength >= 0 {
		if contentLength > max {
			return nil, ErrBodyTooLarge
		}
		limit = contentLength
	}
	buf, err = readUpTo(body, limit, hold)
	switch {
	case err != nil:
	case contentLength >= 0 && int64(len(buf)) != contentLength:
		err = io.ErrUnexpectedEOF
	case int64(len(buf)) > max:
		err = ErrBodyTooLarge
	}
	if err != nil {
		hold.Release()
		// A request_body max_size before the gateway reports this way.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return buf, ErrBodyTooLarge
		}
		return buf, err
	}
	return buf, nil
}

// readUpTo reads src until n bytes or its end into a buffer that grows as
// bytes arrive, charging hold for it (see ReadBody).
func readUpTo(src io.Reader, n int64, hold *Hold) ([]byte, error) {
	buf := make([]byte, 0, min(n, firstBuffer))
	charged := false
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			size := min(n, 2*int64(cap(buf)))
			if err := hold.take(size - int64(cap(buf))); err != nil {
				return buf, err
			}
			grown := make([]byte, len(buf), size)
			copy(grown, buf)
			buf = grown
		}
		m, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if m > 0 && !charged {
			charged = true
			if err := hold.take(int64(cap(buf))); err != nil {
				return buf, err
			}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
