package sender

import (
	"bytes"
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/scgate/scgate/internal/recovery"
)

// Purge deletes up to max deliveries (all if max <= 0) in a final state
// (delivered, failed or gone) that became final before cutoff, oldest
// first, with their payload and attempt log, in one transaction, and
// returns how many it deleted. Pending deliveries are never purged. A
// bounded max keeps the write lock short; call again while it returns max.
func (ob *Outbox) Purge(cutoff time.Time, max int) (int, error) {
	if !cutoff.After(time.Unix(0, 0)) {
		return 0, nil
	}
	n := 0
	// Alone: a purge must not make concurrent enqueues wait for it.
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		limit := timeKey(cutoff, "")
		fb := tx.Bucket(bFinal)
		var victims [][]byte
		c := fb.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0 && (max <= 0 || len(victims) < max); k, _ = c.Next() {
			victims = append(victims, bytes.Clone(k))
		}
		for _, k := range victims {
			if err := fb.Delete(k); err != nil {
				return err
			}
			if len(k) <= 8 {
				continue
			}
			d, err := getMeta(tx, k[8:])
			if errors.Is(err, ErrNotFound) {
				continue // a dangling index entry
			}
			if err != nil {
				return err
			}
			if !d.State.final() {
				continue // retried since: not ours to delete
			}
			if err := deleteDelivery(tx, d); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// deleteDelivery removes d and everything that refers to it but the final
// index entry.
func deleteDelivery(tx *bolt.Tx, d *Delivery) error {
	id := []byte(d.ID)
	for _, del := range []struct {
		b []byte
		k []byte
	}{{bStates, stateKey(d.State, d.ID)}, {bDeliveries, id}, {bPayloads, id}, {bQueue, queueKey(d.URL, d.NextAttempt, d.ID)}, {bLeased, id},
		{bHeaders, id}, {bOrder, lineKey(d.OrderKey, d.OrderPos)}} {
		if err := tx.Bucket(del.b).Delete(del.k); err != nil {
			return err
		}
	}
	lb := tx.Bucket(bLog)
	lp := logPrefix(d.ID)
	var logs [][]byte
	c := lb.Cursor()
	for k, _ := c.Seek(lp); k != nil && bytes.HasPrefix(k, lp); k, _ = c.Next() {
		logs = append(logs, bytes.Clone(k))
	}
	for _, k := range logs {
		if err := lb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Purge deletes the deliveries that became final more than Retain ago (by
// Options.Now), in transactions of at most PurgeBatch deliveries, until
// none is left or ctx ends, and returns how many it deleted.
func (s *Sender) Purge(ctx context.Context) (int, error) {
	retain := s.Retain()
	if retain < 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-retain)
	total := 0
	for ctx.Err() == nil {
		n, err := s.ob.Purge(cutoff, s.purgeBatch)
		total += n
		if err != nil || n < s.purgeBatch {
			return total, err
		}
	}
	return total, ctx.Err()
}

// purgeLoop, the janitor, purges at start and every purgeEvery until ctx
// ends.
func (s *Sender) purgeLoop(ctx context.Context) {
	t := time.NewTicker(s.purgeEvery)
	defer t.Stop()
	for {
		stop := false
		recovery.Do(s.logger, "sender.purge", func() {
			n, err := s.Purge(ctx)
			switch {
			case errors.Is(err, ErrClosed) || ctx.Err() != nil:
				stop = true
			case err != nil:
				s.logger.Error("purging old deliveries failed", zap.Int("purged", n), zap.Error(err))
			case n > 0:
				s.logger.Info("purged old deliveries", zap.Int("count", n), zap.Duration("retain", s.Retain()))
			}
		})
		if stop {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
