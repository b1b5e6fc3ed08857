package sender

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// RecoverLeases logs the attempts still leased (in flight when a process
// or a Run stopped) as interrupted, not counted, and makes them due at
// now, and returns how many there were. Only call it when no Sender is
// running on the outbox: Run calls it when it starts.
func (ob *Outbox) RecoverLeases(now time.Time) (int, error) {
	var n int
	if err := ob.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bLeased).Stats().KeyN
		return nil
	}); err != nil || n == 0 {
		return 0, err // nothing to write
	}
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var ids [][]byte
		if err := tx.Bucket(bLeased).ForEach(func(k, _ []byte) error {
			ids = append(ids, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			d, err := getMeta(tx, id)
			if err != nil {
				return err
			}
			a := Attempt{N: d.Number(), Start: d.UpdatedAt, Outcome: OutcomeInterrupted, Kind: KindInterrupted,
				Error: "attempt interrupted (process stopped); not counted"}
			if err := finish(tx, d, a, now); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}
