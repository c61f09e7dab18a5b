package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"ayuda/config"
)

// Dropping an article into the folder makes a running server answer with
// it; a broken file keeps the previous articles in service.
func TestArticlesHotReload(t *testing.T) {
	dir := t.TempDir()
	arts := filepath.Join(dir, "articles")
	os.MkdirAll(arts, 0o755)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(arts, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("horario.md", "---\nid: horario\nlang: es\ntitle: Horario\nquestions: [\"¿a qué hora abrís?\"]\n---\nDe 9 a 18.\n")
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data, cfg.Articles = filepath.Join(dir, "data"), arts
	a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := &watcher{app: a, last: fingerprint(arts)}
	check := func(wantReload, wantErr bool) {
		t.Helper()
		reloaded, err := w.check(t.Context())
		if reloaded != wantReload || (err != nil) != wantErr {
			t.Fatalf("check: reloaded %v, err %v; want %v, error %v", reloaded, err, wantReload, wantErr)
		}
	}
	check(false, false) // nothing changed
	write("regalo.md", "---\nid: regalo\nlang: es\ntitle: Tarjetas regalo\nquestions: [\"¿tenéis tarjetas regalo?\"]\n---\nSí, desde 10 €.\n")
	check(true, false)
	if _, ok := a.index.Entry("regalo", "es"); !ok {
		t.Fatal("the new article is not searchable")
	}
	write("roto.md", "---\nid: roto\nlang: xx\n---\n")
	write("regalo.md", "---\nid: regalo\nlang: es\ntitle: Tarjetas regalo\nquestions: [\"¿tenéis tarjetas regalo?\"]\n---\nSí, desde 15 euros.\n")
	check(false, true)
	if e, ok := a.index.Entry("regalo", "es"); !ok || e.Body != "Sí, desde 10 €." {
		t.Errorf("after a broken change: %+v %v, want the previous article", e, ok)
	}
	os.Remove(filepath.Join(arts, "roto.md"))
	check(true, false)
	if e, _ := a.index.Entry("regalo", "es"); e.Body != "Sí, desde 15 euros." {
		t.Errorf("after the fix: %q", e.Body)
	}
}
