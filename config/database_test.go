package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The database's password, in a URL or a key=value string, from the
// environment or the YAML file, never reaches the logs.
func TestDatabasePasswordIsRedacted(t *testing.T) {
	for _, db := range []string{
		"postgres://ayuda:s3cr3t-pw@db.internal:5432/ayuda?sslmode=require",
		"host=db.internal user=ayuda password=s3cr3t-pw dbname=ayuda",
		"host=db.internal user=ayuda password='s3cr3t-pw' dbname=ayuda",
	} {
		file := filepath.Join(t.TempDir(), "ayuda.yaml")
		os.WriteFile(file, []byte("lang: es\n"), 0o600)
		c, err := Load(file, func(k string) string {
			if k == "AYUDA_DATABASE_URL" {
				return db
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		if c.Database != db {
			t.Errorf("Database = %q, want %q", c.Database, db)
		}
		if got := c.Secrets().Redact("connecting to " + db); strings.Contains(got, "s3cr3t-pw") {
			t.Errorf("the password is in %q", got)
		}
	}
}
