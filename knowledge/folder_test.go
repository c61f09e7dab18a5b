package knowledge_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// Lint names each problem of an articles folder with its file: a broken
// article, one with no example questions, an example question that finds
// another article first; the built-in articles have none.
func TestLint(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("horario.md", "---\nid: horario\nlang: es\ntitle: Horario de la tienda\nquestions: [\"¿a qué hora abrís la tienda?\", \"¿enviáis a Canarias?\"]\n---\nDe 9 a 18.\n")
	write("envios.md", "---\nid: envios\nlang: es\ntitle: Envíos a Canarias\nquestions: [\"¿enviáis a Canarias?\", \"precio del envío a Canarias\"]\n---\nSí, en 5 días, por 9 €.\n")
	write("vacio.md", "---\nid: vacio\nlang: es\ntitle: Sin preguntas\n---\nNada.\n")
	write("roto.md", "---\nid: roto\nlang: xx\n---\n")
	r, err := knowledge.Lint(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(r.Problems, "\n")
	for _, want := range []string{"roto.md", "vacio.md: no example questions", `"¿enviáis a Canarias?" best matches`} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not say %q:\n%s", want, all)
		}
	}
	if r, err := knowledge.Lint(t.Context(), ""); err != nil || len(r.Problems) != 0 || r.Articles == 0 {
		t.Errorf("built-in articles: %+v, %v; want articles and no problems", r, err)
	}
}
