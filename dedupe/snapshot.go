package dedupe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// A snapshot holds the done keys of a MemoryStore, so that a restarted
// gateway still recognizes retries of events it delivered. Claims in flight
// are not saved: their events were not delivered, so a retry must get
// through anyway.
//
// Format: the magic line, then one 24-byte record per key (the 16-byte key
// digest and its expiry in Unix nanoseconds, big endian, 0 for none), then
// the CRC-32C of everything before it. A file that does not match is
// refused whole, never half loaded.
const snapshotMagic = "scgate-dedupe 1\n"

const snapshotRecord = 16 + 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptSnapshot is returned when a snapshot is empty, truncated, of
// another format or fails its checksum.
var ErrCorruptSnapshot = errors.New("dedupe snapshot is corrupt")

// WriteSnapshot writes the store's unexpired done keys to w and returns how
// many it wrote.
func (s *MemoryStore) WriteSnapshot(w io.Writer) (int, error) {
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return 0, err
	}
	n := 0
	var rec [snapshotRecord]byte
	// Items copies the live items; expired ones are left out.
	for k, it := range s.c.Items() {
		if _, done := it.Object.(doneMarker); !done || len(k) != 16 {
			continue
		}
		copy(rec[:16], k)
		binary.BigEndian.PutUint64(rec[16:], uint64(it.Expiration))
		if _, err := bw.Write(rec[:]); err != nil {
			return n, err
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	_, err := w.Write(crc.Sum(nil))
	return n, err
}

// ReadSnapshot adds the unexpired keys of a snapshot to the store as done,
// up to the store's bound, and returns how many it added. Keys the store
// already holds are left as they are. A corrupt snapshot adds nothing and
// returns an error wrapping ErrCorruptSnapshot.
func (s *MemoryStore) ReadSnapshot(r io.Reader) (int, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	if len(data) < len(snapshotMagic)+4 || !bytes.HasPrefix(data, []byte(snapshotMagic)) {
		return 0, fmt.Errorf("%w: no snapshot header", ErrCorruptSnapshot)
	}
	body, sum := data[:len(data)-4], data[len(data)-4:]
	if (len(body)-len(snapshotMagic))%snapshotRecord != 0 {
		return 0, fmt.Errorf("%w: truncated", ErrCorruptSnapshot)
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(sum) {
		return 0, fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	recs := body[len(snapshotMagic):]
	now := s.now().UnixNano()
	max := s.maxKeys.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ; len(recs) > 0; recs = recs[snapshotRecord:] {
		if int64(s.c.ItemCount()) >= max {
			break
		}
		exp := int64(binary.BigEndian.Uint64(recs[16:snapshotRecord]))
		var ttl time.Duration // 0 is go-cache's NoExpiration
		if exp != 0 {
			if exp <= now {
				continue
			}
			ttl = time.Duration(exp - now)
		}
		if s.c.Add(string(recs[:16]), doneMarker{}, ttl) == nil {
			n++
		}
	}
	return n, nil
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
// A missing file returns an error satisfying errors.Is(err, fs.ErrNotExist).
func (s *MemoryStore) LoadSnapshot(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return s.ReadSnapshot(f)
}
