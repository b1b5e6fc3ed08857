package dedupe

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// A snapshot holds the done keys of a MemoryStore, so that a restarted
// gateway still recognizes retries of events it delivered. Claims in flight
// are not saved: their events were not delivered, so a retry must get
// through anyway.
//
// Format 2: the magic line, then one 32-byte record per key in commit order
// (the 16-byte key digest, its commit time and its expiry in Unix
// nanoseconds, big endian), then the CRC-32C of everything before it.
// Format 1 (written before eviction kept commit order) has 24-byte records
// without the commit time; it is still read. A file that does not match is
// refused whole, never half loaded.
const (
	snapshotMagic   = "scgate-dedupe 2\n"
	snapshotMagicV1 = "scgate-dedupe 1\n"
	snapshotRecord  = 16 + 8 + 8
	recordV1        = 16 + 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptSnapshot is returned when a snapshot is empty, truncated, of
// another format or fails its checksum.
var ErrCorruptSnapshot = errors.New("dedupe snapshot is corrupt")

// WriteSnapshot writes the store's unexpired done keys to w, oldest commit
// first, and returns how many it wrote.
func (s *MemoryStore) WriteSnapshot(w io.Writer) (int, error) {
	s.mu.Lock()
	now := s.now().UnixNano()
	keys := make([]queued, 0, len(s.done))
	for i := 0; i < s.order.size; i++ {
		e := s.order.buf[(s.order.head+i)%len(s.order.buf)]
		if exp, held := s.done[e.digest]; held && exp == e.expires && exp > now {
			keys = append(keys, e)
		}
	}
	s.mu.Unlock()

	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return 0, err
	}
	var rec [snapshotRecord]byte
	for _, e := range keys {
		copy(rec[:16], e.digest[:])
		binary.BigEndian.PutUint64(rec[16:24], uint64(e.committed))
		binary.BigEndian.PutUint64(rec[24:32], uint64(e.expires))
		if _, err := bw.Write(rec[:]); err != nil {
			return 0, err
		}
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	_, err := w.Write(crc.Sum(nil))
	return len(keys), err
}

// ReadSnapshot adds the unexpired keys of a snapshot to the store as done,
// up to the store's bound (the newest of them when they do not all fit),
// and returns how many it added. Keys the store
// already holds are left as they are. A corrupt snapshot adds nothing and
// returns an error wrapping ErrCorruptSnapshot.
func (s *MemoryStore) ReadSnapshot(r io.Reader) (int, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	size := snapshotRecord
	switch {
	case len(data) == 0:
		return 0, fmt.Errorf("%w: the file is empty", ErrCorruptSnapshot)
	case len(data) < len(snapshotMagic)+4:
		return 0, fmt.Errorf("%w: no snapshot header", ErrCorruptSnapshot)
	case bytes.HasPrefix(data, []byte(snapshotMagic)):
	case bytes.HasPrefix(data, []byte(snapshotMagicV1)):
		size = recordV1
	default:
		return 0, fmt.Errorf("%w: no snapshot header", ErrCorruptSnapshot)
	}
	body, sum := data[:len(data)-4], data[len(data)-4:]
	if (len(body)-len(snapshotMagic))%size != 0 {
		return 0, fmt.Errorf("%w: truncated", ErrCorruptSnapshot)
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(sum) {
		return 0, fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	var keys []queued
	for recs := body[len(snapshotMagic):]; len(recs) > 0; recs = recs[size:] {
		e := queued{digest: [16]byte(recs[:16])}
		if size == recordV1 {
			e.expires = int64(binary.BigEndian.Uint64(recs[16:24]))
		} else {
			e.committed = int64(binary.BigEndian.Uint64(recs[16:24]))
			e.expires = int64(binary.BigEndian.Uint64(recs[24:32]))
		}
		keys = append(keys, e)
	}
	if size == recordV1 {
		// Written in no order: the earliest expiry is the oldest commit
		// when every key had the same TTL. No expiry (0) sorts last.
		slices.SortFunc(keys, func(a, b queued) int {
			return cmp.Compare(uint64(a.expires-1), uint64(b.expires-1))
		})
		for i := range keys {
			if keys[i].expires == 0 {
				keys[i].expires = math.MaxInt64
			}
		}
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Newest first, while there is room: a store bounded below the
	// snapshot keeps its newest keys, as its eviction would have. The kept
	// keys are gathered at the end of keys (w never passes i) and queued
	// in commit order.
	room := int(max(s.maxKeys.Load()-int64(len(s.done)+len(s.inflight)), 0))
	w := len(keys)
	for i := len(keys) - 1; i >= 0 && len(keys)-w < room; i-- {
		e := keys[i]
		if e.expires <= now || s.state(e.digest, now) != Claimed {
			continue // expired, held already, or a later copy kept
		}
		s.done[e.digest] = e.expires
		w--
		keys[w] = e
	}
	for _, e := range keys[w:] {
		s.order.push(e)
	}
	return len(keys) - w, nil
}

// SaveSnapshot writes a snapshot to path atomically: to a temporary file in
// the same directory, synced, then renamed over path. A crash mid-write
// leaves the previous snapshot intact. The file is readable by its owner
// only.
func (s *MemoryStore) SaveSnapshot(path string) (int, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	n, err := s.WriteSnapshot(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// LoadSnapshot reads the snapshot at path into the store (see ReadSnapshot).
// A missing file returns an error satisfying errors.Is(err, fs.ErrNotExist);
// every error names the file.
func (s *MemoryStore) LoadSnapshot(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := s.ReadSnapshot(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
