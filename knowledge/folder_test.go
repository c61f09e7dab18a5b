package knowledge_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"ayuda/knowledge"
)

// Dropping an article into the folder makes the index answer with it; a broken file keeps the previous articles in service.
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
	entries, opt, err := knowledge.LoadFolder(arts)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := knowledge.Open(entries, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	w := knowledge.NewFolder(idx, arts, slog.New(slog.NewTextHandler(t.Output(), nil)))
	check := func(wantReload, wantErr bool) {
		t.Helper()
		reloaded, err := w.Check(t.Context())
		if reloaded != wantReload || (err != nil) != wantErr {
			t.Fatalf("check: reloaded %v, err %v; want %v, error %v", reloaded, err, wantReload, wantErr)
		}
	}
	check(false, false) // nothing changed
	write("regalo.md", "---\nid: regalo\nlang: es\ntitle: Tarjetas regalo\nquestions: [\"¿tenéis tarjetas regalo?\"]\n---\nSí, desde 10 €.\n")
	check(true, false)
	if _, ok := idx.Entry("regalo", "es"); !ok {
		t.Fatal("the new article is not searchable")
	}
	write("roto.md", "---\nid: roto\nlang: xx\n---\n")
	write("regalo.md", "---\nid: regalo\nlang: es\ntitle: Tarjetas regalo\nquestions: [\"¿tenéis tarjetas regalo?\"]\n---\nSí, desde 15 euros.\n")
	check(false, true)
	if e, ok := idx.Entry("regalo", "es"); !ok || e.Body != "Sí, desde 10 €." {
		t.Errorf("after a broken change: %+v %v, want the previous article", e, ok)
	}
	os.Remove(filepath.Join(arts, "roto.md"))
	check(true, false)
	if e, _ := idx.Entry("regalo", "es"); e.Body != "Sí, desde 15 euros." {
		t.Errorf("after the fix: %q", e.Body)
	}
}
