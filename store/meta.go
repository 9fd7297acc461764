package store

import (
	"encoding/binary"
	"hash/fnv"
	"os"
)

// bbolt keeps two meta pages and, when one is damaged, silently uses the
// other, which can be one transaction older. damagedMetaPages finds that
// case so Open can warn about it instead of losing the last write without
// a word. It reads bbolt's on-disk meta layout (format version 2): a
// 16-byte page header, then magic, version, page size, flags (uint32
// each), root bucket (16 bytes), freelist, pgid, txid and an FNV-64a
// checksum of the preceding 56 bytes (uint64 each), in host byte order.
func damagedMetaPages(path string) []int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	valid := func(off int64) (pageSize uint32, ok bool) {
		var b [16 + 64]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0, false
		}
		m := b[16:]
		ne := binary.NativeEndian
		h := fnv.New64a()
		h.Write(m[:56])
		ok = ne.Uint32(m[0:]) == 0xED0CDAED && ne.Uint32(m[4:]) == 2 && ne.Uint64(m[56:]) == h.Sum64()
		return ne.Uint32(m[8:]), ok
	}
	size, ok0 := valid(0)
	ok1 := false
	if ok0 {
		_, ok1 = valid(int64(size))
	} else {
		for i := range 15 { // bbolt's page sizes: 1 KiB to 16 MiB
			if _, ok1 = valid(1024 << i); ok1 {
				break
			}
		}
	}
	var damaged []int
	if !ok0 {
		damaged = append(damaged, 0)
	}
	if !ok1 {
		damaged = append(damaged, 1)
	}
	if len(damaged) == 2 {
		return nil // bbolt refuses the file: Open reports that
	}
	return damaged
}
