package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"ayuda/auth"
	"ayuda/config"
	"ayuda/internal/pgtest"
	"ayuda/loadtest"
)

// With a database, credentials are the database's: a token issued through
// one replica works on another at once, one revoked stops working on every
// replica within a second, and a data directory's earlier file is taken
// in when the database has none.
func TestCredentialsSharedByReplicas(t *testing.T) {
	schema := pgtest.Schema(t)
	db := loadtest.WithSearchPath(pgtest.URL(), schema)
	dirA, dirB := t.TempDir(), t.TempDir()
	old, err := auth.Open(dirA)
	if err != nil {
		t.Fatal(err)
	}
	before, err := old.Issue(auth.Agent, "ana")
	if err != nil {
		t.Fatal(err)
	}
	open := func(dir string) *auth.Store {
		cfg := &config.Config{Data: dir, Database: db, Lang: "es", Timezone: "UTC"}
		if err := cfg.Finish(); err != nil {
			t.Fatal(err)
		}
		s, done, err := openCreds(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(done)
		return s
	}
	a := open(dirA)
	b := open(dirB)
	if p, ok := b.Check(before); !ok || p.Name != "ana" {
		t.Fatalf("replica B does not know the token replica A had in its file: %v %v", p, ok)
	}
	tok, err := b.Issue(auth.Customer, "maria")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Check looks again at most once a second
	if p, ok := a.Check(tok); !ok || p.Name != "maria" {
		t.Fatalf("a token issued on replica B does not work on A: %v %v", p, ok)
	}
	if _, err := a.Revoke(auth.Customer, "maria"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, ok := b.Check(tok); ok {
		t.Error("a token revoked on replica A still works on B")
	}
	if _, err := os.Stat(filepath.Join(dirB, auth.File)); err == nil {
		t.Error("replica B wrote a credentials file: they belong in the database")
	}
}
