package escalation

import (
	"context"
	"embed"
	"io/fs"

	"ayuda/escalation/store/pgstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the PostgreSQL schema's versions, applied in order by
// OpenDatabase (and `ayuda migrate`).
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// OpenDatabase opens the queue on the PostgreSQL database at url, applying
// the migrations it has not had yet. schema, if not empty, is the schema
// the tables are in (created if missing); empty means the connection's
// search_path. Several processes may open the same database.
func OpenDatabase(ctx context.Context, url, schema string, cfg Config) (*Queue, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	st, err := pgstore.Open(ctx, url, pgstore.Options{Buckets: Buckets, Migrations: Migrations, Schema: schema})
	if err != nil {
		return nil, err
	}
	return OpenStore(st, cfg)
}

// MigrateDatabase applies the migrations the database at url has not had
// and returns their names and the version it is at now.
func MigrateDatabase(ctx context.Context, url, schema string) (applied []string, version int64, err error) {
	return pgstore.Migrate(ctx, url, schema, Migrations)
}
