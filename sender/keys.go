package sender

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Keys:
//
//	deliveries: id                      -> JSON Delivery (no body, no secret)
//	payloads:   id                      -> uvarint(len secret) secret body
//	queue:      endpoint 0x00 8-byte BE unix nanos id -> nil, for pending,
//	            not leased deliveries: due times per endpoint (scheme and
//	            host, as the per-endpoint limit groups them), so that a
//	            lease skips a saturated endpoint's backlog with one seek
//	leased:     id                      -> nil, while an attempt is in flight
//	states:     state 0x00 id           -> nil
//	log:        id 0x00 4-byte BE index -> JSON Attempt
//	final:      8-byte BE unix nanos id -> nil, for delivered, failed and
//	            gone deliveries, by the time they became final (UpdatedAt)
//	headers:    id                      -> encodeHeaders(Delivery.Headers),
//	            for deliveries that have any
//	order:      uvarint(len key) key 8-byte BE position -> id, for the
//	            deliveries with an OrderKey that are not final: each key's
//	            line in arrival order (order.go)
var (
	bDeliveries = []byte("deliveries")
	bPayloads   = []byte("payloads")
	bQueue      = []byte("queue")
	bLeased     = []byte("leased")
	bStates     = []byte("states")
	bLog        = []byte("log")
	bFinal      = []byte("final")
	bHeaders    = []byte("headers")
	bOrder      = []byte("order")
	allBuckets  = [][]byte{bDeliveries, bPayloads, bQueue, bLeased, bStates, bLog, bFinal, bHeaders, bOrder}
	// laterBuckets came after the first release: a file opened read-only
	// may lack them (reads take a missing one as empty); a writable open
	// creates them.
	laterBuckets = [][]byte{bHeaders, bOrder}
)

// timeKey is an 8-byte big-endian unix-nanosecond time followed by id, so
// that keys sort by time. Times outside what UnixNano represents are
// clamped.
func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	var ns int64
	switch {
	case !t.After(time.Unix(0, 0)):
		// UnixNano is undefined before 1678: clamp.
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	binary.BigEndian.PutUint64(k, uint64(ns))
	return append(k, id...)
}

// keyTime reads the time of a timeKey.
func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
}

// queueKey is the queue key of a delivery to endpoint due at t.
func queueKey(endpoint string, t time.Time, id string) []byte {
	ep := endpointKey(endpoint)
	return append(append(append(make([]byte, 0, len(ep)+9+len(id)), ep...), 0), timeKey(t, id)...)
}

// splitQueueKey returns the endpoint prefix (endpoint 0x00) and the
// timeKey of a queue key; ok is false for a malformed key.
func splitQueueKey(k []byte) (prefix, tk []byte, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k)-i-1 <= 8 {
		return nil, nil, false
	}
	return k[:i+1], k[i+1:], true
}

func stateKey(s State, id string) []byte {
	return append(append(append(make([]byte, 0, len(s)+1+len(id)), s...), 0), id...)
}

func logKey(id string, i int) []byte {
	k := append(append(make([]byte, 0, len(id)+5), id...), 0)
	return binary.BigEndian.AppendUint32(k, uint32(i))
}

// logPrefix is the prefix of every log key of id.
func logPrefix(id string) []byte { return append([]byte(id), 0) }

func getMeta(tx *bolt.Tx, id []byte) (*Delivery, error) {
	v := tx.Bucket(bDeliveries).Get(id)
	if v == nil {
		return nil, ErrNotFound
	}
	d := new(Delivery)
	if err := json.Unmarshal(v, d); err != nil {
		return nil, ErrInvalidFormat
	}
	return d, nil
}

func putMeta(tx *bolt.Tx, d *Delivery) error {
	return tx.Bucket(bDeliveries).Put([]byte(d.ID), mustJSON(d))
}

// decodePayload splits a payload record into secret and body (both
// pointing into v); ok is false for a corrupt record.
func decodePayload(v []byte) (secret, body []byte, ok bool) {
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return nil, nil, false
	}
	return v[w : w+int(n)], v[w+int(n):], true
}

// payloadOK reports whether the payload and headers of id are readable.
func payloadOK(tx *bolt.Tx, id []byte) bool {
	if _, _, ok := decodePayload(tx.Bucket(bPayloads).Get(id)); !ok {
		return false
	}
	_, err := decodeHeaders(getHeaders(tx, id))
	return err == nil
}

// loadPayload reads d's body, secret and headers.
func loadPayload(tx *bolt.Tx, d *Delivery) error {
	secret, body, ok := decodePayload(tx.Bucket(bPayloads).Get([]byte(d.ID)))
	if !ok {
		return ErrInvalidFormat
	}
	// Copy: bbolt memory is only valid inside the transaction
	// (decodeHeaders copies too).
	d.Secret = append([]byte(nil), secret...)
	d.Body = append([]byte(nil), body...)
	h, err := decodeHeaders(getHeaders(tx, []byte(d.ID)))
	if err != nil {
		return err
	}
	d.Headers = h
	return nil
}

// getHeaders returns the headers record of id, nil if there is none.
func getHeaders(tx *bolt.Tx, id []byte) []byte {
	if b := tx.Bucket(bHeaders); b != nil {
		return b.Get(id)
	}
	return nil // an older file opened read-only
}

// putHeaders stores d's headers, if it has any.
func putHeaders(tx *bolt.Tx, d *Delivery) error {
	if len(d.Headers) == 0 {
		return nil
	}
	return tx.Bucket(bHeaders).Put([]byte(d.ID), encodeHeaders(d.Headers))
}

// encodeHeaders writes h as, for each name in sorted order, uvarint(len
// name) name uvarint(number of values) and each value as uvarint(len)
// bytes: every byte kept as it was, which JSON would not do for a value
// that is not UTF-8.
func encodeHeaders(h http.Header) []byte {
	names := slices.Sorted(maps.Keys(h))
	var out []byte
	for _, name := range names {
		out = binary.AppendUvarint(out, uint64(len(name)))
		out = append(out, name...)
		out = binary.AppendUvarint(out, uint64(len(h[name])))
		for _, v := range h[name] {
			out = binary.AppendUvarint(out, uint64(len(v)))
			out = append(out, v...)
		}
	}
	return out
}

// decodeHeaders reads an encodeHeaders record (nil for an empty one); a
// corrupt record is ErrInvalidFormat.
func decodeHeaders(v []byte) (http.Header, error) {
	if len(v) == 0 {
		return nil, nil
	}
	next := func() (string, bool) {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return "", false
		}
		s := string(v[w : w+int(n)])
		v = v[w+int(n):]
		return s, true
	}
	h := make(http.Header)
	for len(v) > 0 {
		name, ok := next()
		if !ok {
			return nil, ErrInvalidFormat
		}
		count, w := binary.Uvarint(v)
		if w <= 0 || count > uint64(len(v)) {
			return nil, ErrInvalidFormat
		}
		v = v[w:]
		vals := make([]string, 0, count)
		for range count {
			s, ok := next()
			if !ok {
				return nil, ErrInvalidFormat
			}
			vals = append(vals, s)
		}
		h[name] = vals
	}
	return h, nil
}

func encodePayload(secret, body []byte) []byte {
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(secret)+len(body)), uint64(len(secret)))
	out = append(out, secret...)
	return append(out, body...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return b
}
