// Package storetest is the behaviour every store.Store must have, as tests
// each implementation runs on itself.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"ayuda/escalation/store"
)

// Buckets are the buckets Run needs; "seq" must support NextSequence.
var Buckets = [][]byte{[]byte("kv"), []byte("seq")}

var (
	kv  = []byte("kv")
	seq = []byte("seq")
)

// Run runs the behaviour tests on stores open returns (each empty, with
// Buckets).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("ReadYourWrites", func(t *testing.T) { readYourWrites(t, open(t)) })
	t.Run("GetMany", func(t *testing.T) { getMany(t, open(t)) })
	t.Run("Rollback", func(t *testing.T) { rollback(t, open(t)) })
	t.Run("Order", func(t *testing.T) { order(t, open(t)) })
	t.Run("Sequence", func(t *testing.T) { sequence(t, open(t)) })
	t.Run("Clear", func(t *testing.T) { clearing(t, open(t)) })
	t.Run("Serial", func(t *testing.T) { serial(t, open(t)) })
}

func get(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	var out []byte
	if err := s.View(t.Context(), func(tx store.Tx) error {
		if v := tx.Bucket(kv).Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func readYourWrites(t *testing.T, s store.Store) {
	err := s.Update(t.Context(), func(tx store.Tx) error {
		b := tx.Bucket(kv)
		if err := b.Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		if err := b.Put([]byte("empty"), nil); err != nil {
			return err
		}
		if v := b.Get([]byte("a")); string(v) != "1" {
			return fmt.Errorf("within the transaction, a = %q", v)
		}
		if v := b.Get([]byte("empty")); len(v) != 0 {
			return fmt.Errorf("a key put with no value reads %q", v)
		}
		if k, _ := b.Cursor().Seek([]byte("empty")); string(k) != "empty" {
			return fmt.Errorf("a key put with no value is not found by a cursor: %q", k)
		}
		if v := b.Get([]byte("none")); v != nil {
			return fmt.Errorf("a missing key reads %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, s, "a"); string(v) != "1" {
		t.Errorf("after commit, a = %q", v)
	}
	if err := s.Batch(t.Context(), func(tx store.Tx) error { return tx.Bucket(kv).Delete([]byte("a")) }); err != nil {
		t.Fatal(err)
	}
	if v := get(t, s, "a"); v != nil {
		t.Errorf("deleted, a = %q", v)
	}
}

// GetMany reads what Get would for each key, in the keys' order, the
// transaction's own writes included.
func getMany(t *testing.T, s store.Store) {
	err := s.Update(t.Context(), func(tx store.Tx) error {
		b := tx.Bucket(kv)
		for _, k := range []string{"a", "b", "c"} {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("empty"), nil); err != nil {
			return err
		}
		if err := b.Delete([]byte("b")); err != nil {
			return err
		}
		got := b.GetMany([][]byte{[]byte("c"), []byte("none"), []byte("a"), []byte("b"), []byte("c"), []byte("empty")})
		want := []string{"vc", "<nil>", "va", "<nil>", "vc", ""}
		if len(got) != len(want) {
			return fmt.Errorf("GetMany of 6 keys returned %d values", len(got))
		}
		for i, v := range got {
			s := string(v)
			if v == nil {
				s = "<nil>"
			}
			if s != want[i] && !(want[i] == "" && len(v) == 0) {
				return fmt.Errorf("GetMany value %d is %q, want %q", i, s, want[i])
			}
		}
		if n := len(b.GetMany(nil)); n != 0 {
			return fmt.Errorf("GetMany of no keys returned %d values", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.View(t.Context(), func(tx store.Tx) error {
		if got := tx.Bucket(kv).GetMany([][]byte{[]byte("a"), []byte("b")}); string(got[0]) != "va" || got[1] != nil {
			return fmt.Errorf("after commit, GetMany(a, b) = %q", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func rollback(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Bucket(kv).Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if v := get(t, s, "a"); v != nil {
		t.Errorf("a failed transaction kept a = %q", v)
	}
}

// order: cursors walk in byte order across many pages, seek to the first
// key at or after theirs, and see the transaction's own writes.
func order(t *testing.T, s store.Store) {
	const n = 1500
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for i := n - 1; i >= 0; i-- {
			k := binary.BigEndian.AppendUint32([]byte("k"), uint32(i))
			if err := tx.Bucket(kv).Put(k, []byte{byte(i)}); err != nil {
				return err
			}
		}
		return tx.Bucket(kv).Put([]byte{0xff, 0}, []byte("last"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(t.Context(), func(tx store.Tx) error {
		var prev []byte
		i := 0
		err := tx.Bucket(kv).ForEach(func(k, v []byte) error {
			if prev != nil && bytes.Compare(prev, k) >= 0 {
				return fmt.Errorf("%x after %x", k, prev)
			}
			prev = append(prev[:0], k...)
			i++
			return nil
		})
		if err != nil {
			return err
		}
		if i != n+1 {
			return fmt.Errorf("ForEach saw %d keys, want %d", i, n+1)
		}
		c := tx.Bucket(kv).Cursor()
		k, v := c.Seek(binary.BigEndian.AppendUint32([]byte("k"), 700))
		if want := binary.BigEndian.AppendUint32([]byte("k"), 700); !bytes.Equal(k, want) || v[0] != byte(700%256) {
			return fmt.Errorf("Seek(700) = %x, want %x", k, want)
		}
		k, _ = c.Seek([]byte("k\xff"))
		if !bytes.Equal(k, []byte{0xff, 0}) {
			return fmt.Errorf("Seek past the k keys = %x, want ff00", k)
		}
		if k, _ := c.Next(); k != nil {
			return fmt.Errorf("Next after the last key = %x", k)
		}
		if k, _ := c.Seek([]byte{0xff, 1}); k != nil {
			return fmt.Errorf("Seek past every key = %x", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sequence(t *testing.T, s store.Store) {
	var last uint64
	for range 3 {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			n, err := tx.Bucket(seq).NextSequence()
			if err != nil {
				return err
			}
			if n <= last {
				return fmt.Errorf("NextSequence = %d after %d", n, last)
			}
			last = n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func clearing(t *testing.T, s store.Store) {
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.Bucket(kv).Put([]byte(k), []byte(k)); err != nil {
				return err
			}
		}
		return tx.Bucket(seq).Put([]byte("other"), []byte("kept"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Bucket(kv).Clear(); err != nil {
			return err
		}
		return tx.Bucket(kv).Put([]byte("d"), []byte("d"))
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	s.View(t.Context(), func(tx store.Tx) error {
		if tx.Bucket(seq).Get([]byte("other")) == nil {
			t.Error("Clear removed another bucket's key")
		}
		return tx.Bucket(kv).ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	})
	if fmt.Sprint(keys) != "[d]" {
		t.Errorf("after Clear and a put: %v, want [d]", keys)
	}
}

// serial: concurrent read-then-write transactions on one key lose no
// update (each reads what the one before wrote).
func serial(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.Batch(context.Background(), func(tx store.Tx) error {
					b := tx.Bucket(kv)
					n := uint64(0)
					if v := b.Get([]byte("n")); v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v := get(t, s, "n"); binary.BigEndian.Uint64(v) != workers*each {
		t.Errorf("counter = %d after %d increments", binary.BigEndian.Uint64(v), workers*each)
	}
}
