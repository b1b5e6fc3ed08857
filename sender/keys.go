package sender

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
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
var (
	bDeliveries = []byte("deliveries")
	bPayloads   = []byte("payloads")
	bQueue      = []byte("queue")
	bLeased     = []byte("leased")
	bStates     = []byte("states")
	bLog        = []byte("log")
	bFinal      = []byte("final")
	allBuckets  = [][]byte{bDeliveries, bPayloads, bQueue, bLeased, bStates, bLog, bFinal}
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

// payloadOK reports whether the payload of id is readable, without
// copying it.
func payloadOK(tx *bolt.Tx, id []byte) bool {
	_, _, ok := decodePayload(tx.Bucket(bPayloads).Get(id))
	return ok
}

func loadPayload(tx *bolt.Tx, d *Delivery) error {
	secret, body, ok := decodePayload(tx.Bucket(bPayloads).Get([]byte(d.ID)))
	if !ok {
		return ErrInvalidFormat
	}
	// Copy: bbolt memory is only valid inside the transaction.
	d.Secret = append([]byte(nil), secret...)
	d.Body = append([]byte(nil), body...)
	return nil
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
