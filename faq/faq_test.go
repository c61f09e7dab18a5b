package faq

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseMarkdown(t *testing.T) {
	src := "---\nid: devoluciones\nlang: ES\ntitle: Devoluciones\nquestions:\n  - ¿cómo devuelvo algo?\ntags: [postventa]\ntype: solicitud\n---\nTienes 30 días.\n"
	e, err := Parse("es/devoluciones.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "devoluciones" || e.Lang != "es" || e.Audience != Public || e.Body != "Tienes 30 días." || len(e.Questions) != 1 || e.Type != "solicitud" {
		t.Errorf("got %+v", e)
	}
}

func TestParseYAML(t *testing.T) {
	src := "id: vpn\nlang: en\ntitle: VPN\naudience: internal\nbody: |\n  Use Aurora Connect.\n"
	e, err := Parse("vpn.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsInternal() || e.Body != "Use Aurora Connect." {
		t.Errorf("got %+v", e)
	}
}

// Errors name the file and the line of the problem.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"no front matter", "just text", "a.md:1: missing front matter"},
		{"bad yaml", "---\nid: a\nlang: es\ntitle: [unclosed\n---\nbody", "a.md:3: did not find expected"},
		{"no id", "---\nlang: es\ntitle: T\n---\nbody", "a.md:2: missing id"},
		{"bad lang", "---\nid: a\nlang: fr\ntitle: T\n---\nbody", "a.md:3: lang must be es or en"},
		{"no title", "---\nid: a\nlang: es\n---\nbody", "missing title"},
		{"empty answer", "---\nid: a\nlang: es\ntitle: T\n---\n\n", "empty answer"},
		{"bad audience", "---\nid: a\nlang: es\ntitle: T\naudience: everyone\n---\nb", "a.md:5: audience must be public or internal"},
		{"bad type", "---\nid: a\nlang: es\ntitle: T\ntype: pregunta\n---\nb", "a.md:5: type must be one of"},
		{"id with slash", "---\nid: a/b\nlang: es\ntitle: T\n---\nb", "a.md:2: id \"a/b\""},
		{"wrong field type", "---\nid: a\nlang: es\ntitle: T\nquestions: {x: 1}\n---\nb", "a.md:5: cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("a.md", []byte(tc.src))
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *faq.Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadDuplicates(t *testing.T) {
	art := "---\nid: a\nlang: es\ntitle: T\n---\nbody\n"
	fsys := fstest.MapFS{
		"one.md":          {Data: []byte(art)},
		"two.md":          {Data: []byte(art)},
		"notes.txt":       {Data: []byte("not an article")},
		".hidden/x.md":    {Data: []byte("broken")},
		"en/a.md":         {Data: []byte(strings.Replace(art, "lang: es", "lang: en", 1))},
		"broken/bad.yaml": {Data: []byte("id: [")},
	}
	entries, err := Load(fsys)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want Errors", err)
	}
	if len(errs) != 2 {
		t.Fatalf("got %d problems, want 2 (bad yaml, duplicate): %v", len(errs), errs)
	}
	if !strings.Contains(errs.Error(), "broken/bad.yaml") || !strings.Contains(errs.Error(), `duplicate id "a" in es`) {
		t.Errorf("got %v", errs)
	}
	if len(entries) != 3 {
		t.Errorf("got %d entries, want the 3 readable ones", len(entries))
	}
}

// The built-in articles are valid, cover the required topics in both
// languages, and each has example questions.
func TestBuiltin(t *testing.T) {
	entries, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]Entry{}
	for _, e := range entries {
		have[e.Key()] = e
		if len(e.Questions) < 5 {
			t.Errorf("%s: only %d example questions", e.Source, len(e.Questions))
		}
	}
	required := strings.Fields(`horario-atencion estado-pedido envio-plazos devoluciones reembolso cambio-producto garantia
		metodos-pago factura cancelar-suscripcion cambiar-contrasena actualizar-datos cancelar-pedido producto-defectuoso
		privacidad-datos quejas-reclamos sugerencias tiempos-respuesta`)
	for _, id := range required {
		for _, lang := range Languages {
			e, ok := have[id+"/"+lang]
			if !ok {
				t.Errorf("built-in article %s missing in %s", id, lang)
				continue
			}
			if e.IsInternal() {
				t.Errorf("%s must be public", e.Source)
			}
		}
	}
	internal := 0
	for _, e := range entries {
		if e.IsInternal() {
			internal++
		}
	}
	if internal == 0 {
		t.Error("no internal article among the built-in ones: the audience filter has nothing to prove")
	}
}
