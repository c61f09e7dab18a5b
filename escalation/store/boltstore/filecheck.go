package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"

	"ayuda/escalation/store"
)

// ErrDamaged is store.ErrDamaged.
var ErrDamaged = store.ErrDamaged

// bbolt's file layout, as far as checkFile needs it: two meta pages at the
// start, each a 16-byte page header and then the meta with its checksum
// (FNV-64a of the meta's first 56 bytes).
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	pageHeader  = 16
	metaSum     = 56
)

// checkFile looks at a store file before bbolt maps it: bbolt trusts the
// file, and a truncated one makes it read past the end of the map (a
// SIGBUS that kills the process), a damaged meta page makes it panic. A
// missing or empty file is a new store.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil
	}
	damaged := func(why string) error {
		return fmt.Errorf("%w: %s %s; it is not opened, and not overwritten: restore it from a backup, or move it away to start afresh", ErrDamaged, path, why)
	}
	head := make([]byte, pageHeader+metaSum+8)
	var best *boltMeta
	for i := range 2 {
		off := int64(0)
		if i == 1 {
			if best == nil {
				break // the second meta page is found by the first's page size
			}
			off = int64(best.pageSize)
		}
		if _, err := f.ReadAt(head, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		m, ok := readMeta(head[pageHeader:])
		if !ok {
			continue
		}
		if best == nil || m.txid > best.txid {
			best = &m
		}
	}
	if best == nil {
		return damaged("has no valid bbolt meta page (is it a bbolt file?)")
	}
	if need := int64(best.highWater) * int64(best.pageSize); fi.Size() < need {
		return damaged(fmt.Sprintf("is truncated: %d bytes, its pages need %d", fi.Size(), need))
	}
	w := walker{f: f, m: *best, seen: map[uint64]bool{}}
	if err := w.page(best.root, 0); err != nil {
		return damaged(err.Error())
	}
	return nil
}

// walker reads every page reachable from the root bucket and checks that
// each is what bbolt will take it for: bbolt asserts this as it reads
// (panicking, in goroutines of its own where no recover reaches), so it is
// checked here first.
type walker struct {
	f    *os.File
	m    boltMeta
	seen map[uint64]bool
}

const (
	branchPage = 0x01
	leafPage   = 0x02
	bucketLeaf = 0x01
	elemSize   = 16 // a branch or leaf page element
	bucketHead = 16 // a bucket value: root page id and sequence
)

func (w *walker) page(id uint64, depth int) error {
	if depth > 64 {
		return errors.New("has a page tree deeper than any bbolt writes")
	}
	if id < 2 || id >= w.m.highWater {
		return fmt.Errorf("points to page %d, outside its %d pages", id, w.m.highWater)
	}
	if w.seen[id] {
		return fmt.Errorf("reaches page %d twice", id)
	}
	w.seen[id] = true
	ps := int64(w.m.pageSize)
	head := make([]byte, pageHeader)
	if _, err := w.f.ReadAt(head, int64(id)*ps); err != nil {
		return fmt.Errorf("cannot read page %d: %v", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(head); got != id {
		return fmt.Errorf("has page %d where page %d should be", got, id)
	}
	overflow := uint64(le.Uint32(head[12:]))
	if id+overflow >= w.m.highWater {
		return fmt.Errorf("page %d runs past the end of its pages", id)
	}
	buf := make([]byte, int64(overflow+1)*ps)
	if _, err := w.f.ReadAt(buf, int64(id)*ps); err != nil {
		return fmt.Errorf("cannot read page %d: %v", id, err)
	}
	return w.node(buf, fmt.Sprintf("page %d", id), depth)
}

// node checks one page's elements (p starts at its header) and walks what
// they point to.
func (w *walker) node(p []byte, name string, depth int) error {
	le := binary.LittleEndian
	if len(p) < pageHeader {
		return fmt.Errorf("%s is cut short", name)
	}
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if pageHeader+count*elemSize > len(p) {
		return fmt.Errorf("%s lists more elements than it holds", name)
	}
	for i := range count {
		at := pageHeader + i*elemSize
		e := p[at : at+elemSize]
		switch flags {
		case branchPage:
			pos, ksize := int(le.Uint32(e[0:])), int(le.Uint32(e[4:]))
			if at+pos+ksize > len(p) {
				return fmt.Errorf("%s has a key outside it", name)
			}
			if err := w.page(le.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafPage:
			ef, pos, ksize, vsize := le.Uint32(e[0:]), int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
			end := at + pos + ksize + vsize
			if pos < 0 || ksize < 0 || vsize < 0 || end > len(p) {
				return fmt.Errorf("%s has a value outside it", name)
			}
			if ef&bucketLeaf == 0 {
				continue
			}
			v := p[at+pos+ksize : end]
			if len(v) < bucketHead {
				return fmt.Errorf("%s has a bucket too short to be one", name)
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.page(root, depth+1); err != nil {
					return err
				}
			} else if err := w.node(v[bucketHead:], name+" (inline bucket)", depth+1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s is neither a branch nor a leaf (flags %#x)", name, flags)
		}
	}
	return nil
}

type boltMeta struct {
	pageSize  uint32
	root      uint64 // the root bucket's page
	highWater uint64
	txid      uint64
}

func readMeta(b []byte) (boltMeta, bool) {
	le := binary.LittleEndian
	if len(b) < metaSum+8 || le.Uint32(b[0:]) != boltMagic || le.Uint32(b[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:metaSum])
	if h.Sum64() != le.Uint64(b[metaSum:]) {
		return boltMeta{}, false
	}
	m := boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), highWater: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		return boltMeta{}, false
	}
	return m, true
}

// openChecked opens the store with bbolt after checkFile, turning a fault
// reading the map while it opens (the file changed under it) into
// ErrDamaged.
func openChecked(path string, opt *bolt.Options) (db *bolt.DB, err error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %s: %v; it is not overwritten: restore it from a backup, or move it away to start afresh", ErrDamaged, path, r)
		}
	}()
	return bolt.Open(path, 0o600, opt)
}
