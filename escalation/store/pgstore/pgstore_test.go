package pgstore

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ayuda/escalation/store"
	"ayuda/escalation/store/storetest"
	"ayuda/internal/pgtest"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), pgtest.URL(), Options{Buckets: storetest.Buckets, Migrations: os.DirFS("testdata"), Schema: pgtest.Schema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// A read that fails (here, a cancelled context) voids the transaction:
// whatever fn decided from the nil it read is not committed, and the error
// is the read's.
func TestFailedReadVoidsTheTransaction(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket([]byte("kv"))
		if err := b.Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		cancel()
		if b.Get([]byte("a")) == nil {
			return b.Put([]byte("b"), []byte("decided on a failed read"))
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("Update = %v, want the read's failure", err)
	}
	s.View(t.Context(), func(tx store.Tx) error {
		if v := tx.Bucket([]byte("kv")).Get([]byte("a")); v != nil {
			t.Errorf("a = %q was committed", v)
		}
		return nil
	})
}

// Writes go to the database with the next read or with the COMMIT, in one
// round trip: a transaction of writes costs one, a read after writes sees
// them, and a write the database refuses (a NULL key) voids the whole
// transaction, the writes before it included, and is the error.
func TestWritesGoWithTheCommit(t *testing.T) {
	s := open(t)
	kv := []byte("kv")
	before := s.RoundTrips()
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		b := tx.Bucket(kv)
		for _, k := range []string{"a", "b", "c"} {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return b.Delete([]byte("b"))
	}); err != nil {
		t.Fatal(err)
	}
	if n := s.RoundTrips() - before; n != 1 {
		t.Errorf("three writes and a delete took %d round trips, want 1 (with the COMMIT)", n)
	}
	before = s.RoundTrips()
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		b := tx.Bucket(kv)
		b.Put([]byte("d"), []byte("vd"))
		if got := string(b.Get([]byte("d"))); got != "vd" {
			t.Errorf("a read after a write in the transaction got %q, want vd", got)
		}
		if b.Get([]byte("b")) != nil {
			t.Error("a deleted key is still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := s.RoundTrips() - before; n != 3 {
		t.Errorf("a write, two reads and the commit took %d round trips, want 3", n)
	}

	err := s.Update(t.Context(), func(tx store.Tx) error {
		b := tx.Bucket(kv)
		b.Put([]byte("e"), []byte("ve"))
		return b.Put(nil, []byte("a NULL key"))
	})
	if err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("Update with a refused write = %v, want the database's refusal", err)
	}
	if err := s.View(t.Context(), func(tx store.Tx) error {
		b := tx.Bucket(kv)
		if v := b.Get([]byte("e")); v != nil {
			t.Errorf("e = %q was committed with a refused write", v)
		}
		if got := string(b.Get([]byte("a"))); got != "va" {
			t.Errorf("a = %q after the refused transaction, want va", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The connection that held the aborted transaction works on.
	for range 20 {
		if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Bucket(kv).Put([]byte("f"), []byte("vf")) }); err != nil {
			t.Fatalf("after a refused write: %v", err)
		}
	}
}

// What one store broadcasts, another listening on the same schema hears,
// in order, once it said it listens; several payloads go in one round
// trip, and the same one twice in a broadcast is heard once.
func TestBroadcastInOrder(t *testing.T) {
	s := open(t)
	other, err := Open(t.Context(), pgtest.URL(), Options{Schema: s.space})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	heard := make(chan string, 16)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go other.Listen(ctx, func(p string) { heard <- p })
	if p := <-heard; p != "" {
		t.Fatalf("first call %q, want \"\" (listening)", p)
	}
	before := s.RoundTrips()
	if err := s.Broadcast(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Broadcast(t.Context(), "b", "c", "b", "d"); err != nil {
		t.Fatal(err)
	}
	if n := s.RoundTrips() - before; n != 2 {
		t.Errorf("two broadcasts took %d round trips", n)
	}
	var got []string
	for len(got) < 4 {
		select {
		case p := <-heard:
			got = append(got, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("heard %q after 10 s, want a b c d", got)
		}
	}
	if strings.Join(got, " ") != "a b c d" {
		t.Errorf("heard %q, want a b c d", got)
	}
}

// An owner that was paused longer than a new owner's grace (its checks
// did not run) does not act (store.Held is false) until its next check
// confirms it still owns the role.
func TestLeaseAfterAPause(t *testing.T) {
	s := open(t)
	var paused atomic.Int64
	now = func() time.Time { return time.Now().Add(time.Duration(paused.Load())) }
	t.Cleanup(func() { now = time.Now })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := s.Lead(ctx, "lease", func(ctx context.Context) error {
		if !store.Held(ctx) {
			t.Error("not held once the role is owned")
		}
		paused.Add(int64(2 * time.Second))
		if store.Held(ctx) {
			t.Error("held after a 2 s pause, before a check confirmed it")
		}
		for end := time.Now().Add(5 * time.Second); !store.Held(ctx) && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
		}
		if !store.Held(ctx) {
			t.Error("not held again after the checks went on")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Opening a database whose migrations lack a bucket's table says so.
func TestMissingTable(t *testing.T) {
	_, err := Open(t.Context(), pgtest.URL(), Options{Buckets: [][]byte{[]byte("kv"), []byte("nope")}, Migrations: os.DirFS("testdata"), Schema: pgtest.Schema(t)})
	if err == nil || !strings.Contains(err.Error(), "no table nope") {
		t.Fatalf("Open = %v, want no table nope", err)
	}
}

// Replicas starting together apply the migrations once.
func TestConcurrentMigrations(t *testing.T) {
	schema := pgtest.Schema(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(t.Context(), pgtest.URL(), Options{Buckets: storetest.Buckets, Migrations: os.DirFS("testdata"), Schema: schema})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
