package llmlimit

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt maps its file and reads pages wherever the meta page points: a
// truncated file makes it read past the end of the mapping, and the process
// dies of SIGBUS, which no recover catches. checkBoltFile reads the two
// meta pages first and refuses a file shorter than they say.
//
// Layout (bbolt v1.x, native byte order): a 16-byte page header, then
// magic, version, page size, flags (4 bytes each), root bucket page and
// sequence, freelist page, page count (pgid), txid, checksum (8 bytes
// each); the checksum is FNV-64a of the 56 bytes before it. The second
// meta page starts one page in.
const (
	boltPageHeader = 16
	boltMetaSum    = 56
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
)

type boltMeta struct {
	pageSize         uint32
	root, freelist   uint64
	pages, txid      uint64
	freelistUnsynced bool
}

func readBoltMeta(b []byte, order binary.ByteOrder) (boltMeta, bool) {
	if len(b) < boltPageHeader+boltMetaSum+8 {
		return boltMeta{}, false
	}
	m := b[boltPageHeader:]
	h := fnv.New64a()
	h.Write(m[:boltMetaSum])
	if order.Uint32(m[0:]) != boltMagic || order.Uint32(m[4:]) != boltVersion || h.Sum64() != order.Uint64(m[boltMetaSum:]) {
		return boltMeta{}, false
	}
	meta := boltMeta{
		pageSize: order.Uint32(m[8:]), root: order.Uint64(m[16:]), freelist: order.Uint64(m[32:]),
		pages: order.Uint64(m[40:]), txid: order.Uint64(m[48:]),
	}
	// bbolt writes an all-ones freelist id when the freelist isn't synced.
	meta.freelistUnsynced = meta.freelist == ^uint64(0)
	return meta, true
}

// checkBoltFile reports whether the bbolt file at path is whole: a valid
// meta page whose pages all lie within the file.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil // bbolt initializes an empty file
	}
	first := make([]byte, boltPageHeader+boltMetaSum+8)
	if _, err := io.ReadFull(f, first); err != nil {
		return fmt.Errorf("%w %s: shorter than a meta page", ErrCorruptCache, path)
	}
	var best boltMeta
	found := false
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		m0, ok0 := readBoltMeta(first, order)
		if !ok0 {
			continue
		}
		best, found = m0, true
		second := make([]byte, len(first))
		if _, err := f.ReadAt(second, int64(m0.pageSize)); err == nil {
			if m1, ok1 := readBoltMeta(second, order); ok1 && m1.txid > m0.txid {
				best = m1
			}
		}
		break
	}
	if !found {
		return fmt.Errorf("%w %s: no valid meta page", ErrCorruptCache, path)
	}
	if best.pageSize < 512 || best.pageSize > 1<<20 {
		return fmt.Errorf("%w %s: page size %d", ErrCorruptCache, path, best.pageSize)
	}
	size := uint64(fi.Size())
	ps := uint64(best.pageSize)
	switch {
	case best.pages < 4 || best.pages > size/ps:
		return fmt.Errorf("%w %s: %d bytes hold %d pages, the meta page says %d (truncated?)",
			ErrCorruptCache, path, size, size/ps, best.pages)
	case best.root >= best.pages, !best.freelistUnsynced && best.freelist >= best.pages:
		return fmt.Errorf("%w %s: meta page points past the end", ErrCorruptCache, path)
	}
	return nil
}
