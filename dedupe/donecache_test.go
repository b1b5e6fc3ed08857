package dedupe

import (
	"testing"
	"time"
)

func TestDoneCacheBoundAndExpiry(t *testing.T) {
	c := newDoneCache(3)
	now := time.Now()
	keys := [][16]byte{{1}, {2}, {3}, {4}}
	for _, k := range keys[:3] {
		c.add(&k, now.Add(time.Hour))
	}
	for _, k := range keys[:3] {
		if !c.has(&k, now) {
			t.Fatalf("%v missing", k)
		}
	}
	// Full: the fourth insertion forgets the first.
	c.add(&keys[3], now.Add(time.Hour))
	if c.len() != 3 || c.has(&keys[0], now) || !c.has(&keys[3], now) {
		t.Fatalf("after a fourth insertion: len %d, first %v, fourth %v", c.len(), c.has(&keys[0], now), c.has(&keys[3], now))
	}
	// Re-adding a held key takes no second slot and keeps the later expiry.
	c.add(&keys[3], now.Add(time.Minute))
	if c.len() != 3 || !c.has(&keys[3], now.Add(30*time.Minute)) {
		t.Fatal("re-adding shortened the expiry or took a slot")
	}
	// Expiry is exclusive: at its time the key is no longer known.
	short := [16]byte{9}
	c.add(&short, now.Add(time.Second))
	if !c.has(&short, now.Add(999*time.Millisecond)) || c.has(&short, now.Add(time.Second)) {
		t.Fatal("expiry not honoured")
	}
	var nilCache *doneCache
	nilCache.add(&short, now.Add(time.Hour))
	if nilCache.has(&short, now) || nilCache.len() != 0 {
		t.Fatal("a nil cache knows something")
	}
}

// TestDoneCacheFootprint keeps the cache's memory per entry in check: the
// default bound must stay a few MiB.
func TestDoneCacheFootprint(t *testing.T) {
	c := newDoneCache(DefaultDoneCacheKeys)
	now := time.Now()
	for i := range DefaultDoneCacheKeys * 2 {
		d := [16]byte{byte(i), byte(i >> 8), byte(i >> 16)}
		c.add(&d, now.Add(time.Hour))
	}
	if n := c.len(); n != DefaultDoneCacheKeys {
		t.Fatalf("len %d after %d insertions, want the bound %d", n, DefaultDoneCacheKeys*2, DefaultDoneCacheKeys)
	}
}
