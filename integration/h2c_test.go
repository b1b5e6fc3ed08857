package integration

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cConn is a raw HTTP/2 cleartext connection (prior knowledge) to the
// gateway, for streams that net/http's client would not open: many at once,
// each declaring a body it never sends. It is not safe for concurrent use.
type h2cConn struct {
	c     net.Conn
	bw    *bufio.Writer
	fr    *http2.Framer
	block bytes.Buffer
	enc   *hpack.Encoder
	dec   *hpack.Decoder
	host  string
	next  uint32 // the next stream id
}

// h2cEvent is what a frame from the gateway said about a stream.
type h2cEvent struct {
	stream uint32
	status string // from a HEADERS frame, "" otherwise
	data   []byte // from a DATA frame
	ended  bool   // END_STREAM or RST_STREAM
	reset  bool   // RST_STREAM
}

// dialH2C connects from the loopback address local (any, if "") to addr
// and sends the preface and settings.
func dialH2C(ctx context.Context, local, addr string) (*h2cConn, error) {
	c, err := dialFrom(ctx, local, addr)
	if err != nil {
		return nil, err
	}
	h := &h2cConn{c: c, bw: bufio.NewWriter(c), host: addr, next: 1, dec: hpack.NewDecoder(4096, nil)}
	h.enc = hpack.NewEncoder(&h.block)
	h.fr = http2.NewFramer(h.bw, bufio.NewReader(c))
	if _, err := io.WriteString(h.bw, http2.ClientPreface); err != nil {
		c.Close()
		return nil, err
	}
	if err := h.fr.WriteSettings(); err != nil {
		c.Close()
		return nil, err
	}
	return h, h.bw.Flush()
}

func (h *h2cConn) Close() error { return h.c.Close() }

// open starts a POST /hook stream with headers (name/value pairs, lower
// case) and no END_STREAM, and returns its id; flush sends it.
func (h *h2cConn) open(headers ...string) (uint32, error) {
	h.block.Reset()
	fields := append([]string{":method", "POST", ":scheme", "http", ":authority", h.host, ":path", "/hook"}, headers...)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}); err != nil {
			return 0, err
		}
	}
	id := h.next
	h.next += 2
	return id, h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.block.Bytes(), EndHeaders: true})
}

func (h *h2cConn) flush() error { return h.bw.Flush() }

// read reads frames until one about a stream, answering settings and pings
// and giving back the window of the data it receives on the way.
func (h *h2cConn) read() (h2cEvent, error) {
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return h2cEvent{}, err
		}
		ev := h2cEvent{stream: f.Header().StreamID}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				err = h.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				err = h.fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			// Decode every block: the decoder's table follows the
			// gateway's encoder.
			fields, derr := h.dec.DecodeFull(f.HeaderBlockFragment())
			if derr != nil {
				return h2cEvent{}, derr
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					ev.status = hf.Value
				}
			}
			ev.ended = f.StreamEnded()
		case *http2.DataFrame:
			ev.data = append([]byte(nil), f.Data()...)
			if n := len(ev.data); n > 0 {
				err = h.fr.WriteWindowUpdate(0, uint32(n))
			}
			ev.ended = f.StreamEnded()
		case *http2.RSTStreamFrame:
			ev.ended, ev.reset = true, true
		case *http2.GoAwayFrame:
			return h2cEvent{}, io.EOF
		}
		if err == nil {
			err = h.bw.Flush()
		}
		if err != nil {
			return h2cEvent{}, err
		}
		if ev.stream != 0 {
			return ev, nil
		}
	}
}
