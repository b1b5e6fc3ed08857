package sender

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Ordered deliveries. A delivery with an OrderKey waits behind the earlier
// deliveries with the same key until each of them is final (delivered,
// failed or gone); deliveries of other keys, and those without one, go on
// in parallel.
//
// Each key has a line in the order bucket. A delivery joins the end of its
// line when it is enqueued, retried or replayed, at a position the
// bucket's sequence hands out in the transaction, so a line is in the
// order its deliveries were committed. Only the first of a line is in the
// queue (or leased): the lease pass, which knows nothing of keys, never
// sees the others. When the first becomes final, finish takes it out of
// the line and queues the next. A first delivery that fails holds back
// its own key only: its retries wait in the queue like any other, and the
// other keys' first deliveries pass it.

// maxOrderKey bounds an order key as stored; a longer key is stored as
// its hash (ordering needs only its identity).
const maxOrderKey = 256

// orderKey returns k as stored: itself, or "sha256:" and its hex SHA-256
// when it is longer than maxOrderKey bytes or not valid UTF-8 (the JSON
// record would not keep its bytes, and the line would be lost).
func orderKey(k string) string {
	if len(k) <= maxOrderKey && utf8.ValidString(k) {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// linePrefix is the prefix of the keys of key's line: length-prefixed, so
// that no line's prefix is another's.
func linePrefix(key string) []byte {
	return append(binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(key)+8), uint64(len(key))), key...)
}

func lineKey(key string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(linePrefix(key), pos)
}

// queue makes the pending d due at d.NextAttempt: in the queue, or, when
// it has an order key and earlier deliveries of the key are not final,
// only at the end of its line.
func queue(tx *bolt.Tx, d *Delivery) error {
	if d.OrderKey != "" {
		first, err := joinLine(tx, d)
		if err != nil || !first {
			return err
		}
	}
	return tx.Bucket(bQueue).Put(queueKey(d.URL, d.NextAttempt, d.ID), nil)
}

// joinLine puts d at the end of its key's line, setting d.OrderPos, and
// reports whether it is the first.
func joinLine(tx *bolt.Tx, d *Delivery) (first bool, err error) {
	ob := tx.Bucket(bOrder)
	pos, err := ob.NextSequence()
	if err != nil {
		return false, err
	}
	d.OrderPos = pos
	p := linePrefix(d.OrderKey)
	k, _ := ob.Cursor().Seek(p)
	first = k == nil || !bytes.HasPrefix(k, p)
	return first, ob.Put(lineKey(d.OrderKey, pos), []byte(d.ID))
}

// leaveLine takes d, now final, out of its key's line and queues the next
// delivery of the line. An entry whose delivery is missing, not pending or
// not placed there (a damaged record) is dropped, so that it cannot hold
// the line forever.
func leaveLine(tx *bolt.Tx, d *Delivery) error {
	ob := tx.Bucket(bOrder)
	if err := ob.Delete(lineKey(d.OrderKey, d.OrderPos)); err != nil {
		return err
	}
	p := linePrefix(d.OrderKey)
	c := ob.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Seek(p) {
		next, err := getMeta(tx, v)
		if err == nil && next.State == StatePending && bytes.Equal(k, lineKey(next.OrderKey, next.OrderPos)) {
			if tx.Bucket(bLeased).Get(v) != nil {
				return nil // already in an attempt
			}
			return tx.Bucket(bQueue).Put(queueKey(next.URL, next.NextAttempt, next.ID), nil)
		}
		if err := ob.Delete(bytes.Clone(k)); err != nil {
			return err
		}
	}
	return nil
}

// lineBacklog calls fn with each delivery id waiting in a line behind its
// first (which is in the queue or leased): for Backlogs.
func lineBacklog(tx *bolt.Tx, fn func(id []byte)) {
	ob := tx.Bucket(bOrder)
	if ob == nil {
		return // an older file opened read-only
	}
	var line []byte
	c := ob.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) < 8 {
			continue
		}
		if p := k[:len(k)-8]; !bytes.Equal(p, line) {
			line = bytes.Clone(p) // the first of a new line
			continue
		}
		fn(v)
	}
}
