package faq

import (
	"errors"
	"testing"
)

// FuzzParse: any bytes give an entry or a *faq.Error naming the file; never
// a panic, and a parsed entry always passes the checks.
func FuzzParse(f *testing.F) {
	f.Add("a.md", "---\nid: a\nlang: es\ntitle: T\nquestions: [x]\n---\nbody\n")
	f.Add("b.yaml", "id: b\nlang: en\ntitle: T\nbody: x\n")
	f.Add("c.md", "---\n---\n")
	f.Add("d.md", "---\nid: [\n---\n")
	f.Add("e.yml", "&a [*a, *a]")
	f.Add("f.md", "\ufeff---\nid: f\nlang: es\ntitle: T\n---\n\x00")
	f.Fuzz(func(t *testing.T, name, data string) {
		e, err := Parse(name, []byte(data))
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.File != name {
				t.Fatalf("error %v does not name the file %q", err, name)
			}
			return
		}
		if e.ID == "" || (e.Lang != "es" && e.Lang != "en") || e.Title == "" || e.Body == "" {
			t.Fatalf("parsed an invalid entry: %+v", e)
		}
	})
}
