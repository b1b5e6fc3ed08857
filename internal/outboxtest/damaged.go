// Package outboxtest makes damaged copies of a sender outbox, as an audit
// made them, for the tests of the sender package, its Caddy glue and the
// binary.
package outboxtest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scgate/scgate/sender"
)

// Deliveries is the number of pending deliveries in the healthy outbox.
const Deliveries = 20

// Files writes a healthy outbox of more than 64 KiB (several data pages)
// into dir, and damaged copies of it: cut to 20,000 bytes, 256 bytes of
// zeros over the start of a data page, 256 bytes of garbage inside
// another, and an empty file. It returns the healthy file and the damaged
// ones by name.
func Files(tb testing.TB, dir string) (healthy string, damaged map[string]string) {
	tb.Helper()
	healthy = filepath.Join(dir, "healthy.db")
	ob, err := sender.OpenOutbox(healthy, sender.OutboxOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < Deliveries; i++ {
		body := `{"event":"screenshot.finished","pad":"` + strings.Repeat("x", 1500) + `"}`
		d, err := sender.NewDelivery("http://127.0.0.1:9/", "screenshot.finished", []byte(body), []byte("outboxtest-secret"), time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		if err := ob.Enqueue(d); err != nil {
			tb.Fatal(err)
		}
	}
	if err := ob.Close(); err != nil {
		tb.Fatal(err)
	}
	leaves, pageSize := leafPages(tb, healthy)
	data, err := os.ReadFile(healthy)
	if err != nil {
		tb.Fatal(err)
	}
	if len(data) < 64<<10 || len(leaves) < 2 {
		tb.Fatalf("the healthy outbox is %d bytes with leaf pages %v: too small to damage", len(data), leaves)
	}
	damaged = map[string]string{}
	write := func(name string, b []byte) {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		damaged[name] = p
	}
	write("truncated", data[:20000])
	zeros := append([]byte(nil), data...)
	copy(zeros[leaves[0]*pageSize:], make([]byte, 256))
	write("zeroed page", zeros)
	garbage := append([]byte(nil), data...)
	rng := rand.New(rand.NewPCG(15, 4))
	for i := range 256 {
		garbage[leaves[len(leaves)-1]*pageSize+16+i] = byte(rng.UintN(256))
	}
	write("garbage in a page", garbage)
	write("empty", nil)
	return healthy, damaged
}

// leafPages returns the ids of the leaf pages of the bbolt file at path,
// and its page size.
func leafPages(tb testing.TB, path string) ([]int, int) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second, PreLoadFreelist: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var leaves []int
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == "leaf" {
				leaves = append(leaves, id)
			}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return leaves, db.Info().PageSize
}
