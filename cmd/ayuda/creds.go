package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"time"

	"ayuda/auth"
	"ayuda/config"
	"ayuda/dialog"
	"ayuda/escalation"
)

// Credentials live beside the store: in the data directory's file with
// the bbolt store, in the database when there is one, so that a token
// issued on one replica works on every other.

// credsKey is where the database keeps the credentials document.
const credsKey = "auth:credentials"

// openCreds opens the credentials: q's database's when a database is
// configured (q may be nil: it is then opened for the purpose, and
// closed with the returned function), else the data directory's file. A
// database with no credentials yet starts with those of the file, if any.
func openCreds(ctx context.Context, cfg *config.Config, q *escalation.Queue) (*auth.Store, func(), error) {
	if cfg.Database == "" {
		s, err := auth.Open(cfg.Data)
		return s, func() {}, err
	}
	done := func() {}
	if q == nil {
		qc := cfg.Queue()
		qc.Notify = dialog.Notifier()
		var err error
		if q, err = openStore(ctx, cfg, qc); err != nil {
			return nil, nil, err
		}
		done = func() { q.Close() }
	}
	b := &dbCreds{q: q}
	if file, err := os.ReadFile(filepath.Join(cfg.Data, auth.File)); err == nil {
		err := q.UpdateMeta(ctx, credsKey, func(cur []byte) ([]byte, error) {
			if cur != nil {
				return nil, errKept
			}
			return file, nil
		})
		if err != nil && !errors.Is(err, errKept) {
			done()
			return nil, nil, err
		}
	}
	s, err := auth.OpenBackend(b)
	if err != nil {
		done()
		return nil, nil, err
	}
	return s, done, nil
}

var errKept = errors.New("the database has credentials already")

// dbCreds is the credentials document in the database's meta records.
type dbCreds struct{ q *escalation.Queue }

func (b *dbCreds) Where() string { return "the credentials in the database" }

func (b *dbCreds) Read(last string) ([]byte, string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	data, err := b.q.GetMeta(ctx, credsKey)
	if err != nil {
		return nil, "", false, err
	}
	stamp := ""
	if data != nil {
		h := sha256.Sum256(data)
		stamp = hex.EncodeToString(h[:])
	}
	return data, stamp, stamp != last, nil
}

func (b *dbCreds) Update(f func([]byte) ([]byte, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.q.UpdateMeta(ctx, credsKey, f)
}
