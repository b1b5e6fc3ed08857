package webhook

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// ErrBodyTooLarge is returned by ReadBody for a body over its limit.
var ErrBodyTooLarge = errors.New("body larger than the limit")

// ErrBufferFull is returned by ReadBody when the Budget cannot hold the
// body's next bytes.
var ErrBufferFull = errors.New("the budget of buffered body bytes is used up")

// initialBodyBuffer bounds what a declared Content-Length alone can make
// the gateway allocate: a client that sends headers and then stalls pins at
// most this much, not max_body. Larger bodies grow as their bytes arrive.
const initialBodyBuffer = 64 << 10

// unknownLengthBuffer is the first buffer of a body sent without a length
// (chunked): small, since nothing says how much will come.
const unknownLengthBuffer = 4 << 10

// Budget bounds the bytes that bodies being read hold at once, across every
// request that reads with it, so that memory stays bounded whatever clients
// send (many slow bodies, many streams). A body holds its share from its
// first byte until it is released. The zero value has no limit.
type Budget struct {
	limit atomic.Int64 // 0: no limit
	used  atomic.Int64
}

// SetLimit sets the bound, in bytes (0: none). Bodies already read keep
// what they hold.
func (b *Budget) SetLimit(n int64) { b.limit.Store(n) }

// Used returns the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

// reserve takes n bytes of the budget if they fit.
func (b *Budget) reserve(n int64) bool {
	for {
		used, limit := b.used.Load(), b.limit.Load()
		if limit > 0 && used+n > limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release gives back n bytes a ReadBody reported holding.
func (b *Budget) Release(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}

// ReadBody reads a whole body, never more than max+1 bytes, and returns it
// with the bytes it holds of budget (nil: no budget), which the caller
// gives back with budget.Release once it is done with the body. The buffer
// grows as bytes arrive, each growth taken from the budget first; when the
// budget cannot take it, ReadBody stops with ErrBufferFull. On an error
// nothing stays held, and buf has the bytes read until then. A body with a
// known length up to 64 KiB is read with exactly one allocation.
func ReadBody(body io.Reader, contentLength, max int64, budget *Budget) (buf []byte, held int64, err error) {
	r := bodyReader{src: body, budget: budget}
	limit, first := max+1, int64(unknownLengthBuffer)
	if contentLength >= 0 {
		if contentLength > max {
			return nil, 0, ErrBodyTooLarge
		}
		limit, first = contentLength, initialBodyBuffer
	}
	buf, err = r.readUpTo(min(limit, first), limit)
	switch {
	case err != nil:
	case contentLength >= 0 && int64(len(buf)) != contentLength:
		err = io.ErrUnexpectedEOF
	case int64(len(buf)) > max:
		err = ErrBodyTooLarge
	}
	if err != nil {
		budget.Release(r.held)
		// A request_body max_size before the gateway reports this way.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return buf, 0, ErrBodyTooLarge
		}
		return buf, 0, err
	}
	return buf, r.held, nil
}

// bodyReader reads a body into a buffer that grows as bytes arrive.
type bodyReader struct {
	src    io.Reader
	budget *Budget
	held   int64
}

// readUpTo reads until n bytes or the end of the body, starting with a
// buffer of first bytes.
func (r *bodyReader) readUpTo(first, n int64) ([]byte, error) {
	var buf []byte
	if err := r.grow(&buf, first); err != nil {
		return nil, err
	}
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			if err := r.grow(&buf, min(n, 2*int64(cap(buf))+512)); err != nil {
				return buf, err
			}
		}
		want := min(int64(cap(buf)), n)
		m, err := r.src.Read(buf[len(buf):want])
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

// grow gives buf a capacity of size, taking the difference from the
// budget first.
func (r *bodyReader) grow(buf *[]byte, size int64) error {
	more := size - int64(cap(*buf))
	if r.budget != nil {
		if !r.budget.reserve(more) {
			return ErrBufferFull
		}
		r.held += more
	}
	grown := make([]byte, len(*buf), size)
	copy(grown, *buf)
	*buf = grown
	return nil
}
