package boltstore

import (
	"path/filepath"
	"testing"

	"ayuda/escalation/store"
	"ayuda/escalation/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Buckets: storetest.Buckets})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
