package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"ayuda/config"
	"ayuda/dialog"
	"ayuda/escalation"
)

// openStore opens the configured store: the PostgreSQL database when one
// is configured (its migrations applied), else the bbolt file in the data
// directory.
func openStore(ctx context.Context, cfg *config.Config, qc escalation.Config) (*escalation.Queue, error) {
	if cfg.Database != "" {
		return escalation.OpenDatabase(ctx, cfg.Database, "", qc)
	}
	return escalation.Open(filepath.Join(cfg.Data, "ayuda.db"), qc)
}

// openExistingStore opens the store for a command that reads what is in
// it; with no bbolt file yet (and no database) it says why there is
// nothing to read.
func openExistingStore(ctx context.Context, cfg *config.Config, cmd, why string) (*escalation.Queue, error) {
	prefix := ""
	if cmd != "" {
		prefix = cmd + ": "
	}
	if cfg.Database == "" {
		path := filepath.Join(cfg.Data, "ayuda.db")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%sthere is no store at %s yet: %s", prefix, path, why)
		}
	}
	qc := cfg.Queue()
	qc.Notify = dialog.Notifier()
	q, err := openStore(ctx, cfg, qc)
	if err != nil {
		return nil, fmt.Errorf("%s%w", prefix, err)
	}
	return q, nil
}

// cmdMigrate applies the database's migrations (serve does too when it
// starts) and says which version it is at.
func cmdMigrate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("migrate", e)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if cfg.Database == "" {
		return errors.New("migrate: no database is configured (set AYUDA_DATABASE_URL or database: in the configuration); the bbolt store needs no migrations")
	}
	applied, version, err := escalation.MigrateDatabase(ctx, cfg.Database, "")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, a := range applied {
		fmt.Fprintf(e.stdout, "applied %s\n", a)
	}
	fmt.Fprintf(e.stdout, "the database is at version %d\n", version)
	return nil
}
