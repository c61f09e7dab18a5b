package kbimport_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ayuda/faq"
	"ayuda/kbimport"
)

func write(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Records become article files that the loader reads back as the same
// articles; out-of-scope questions become one article per language.
func TestLoadRoundTrip(t *testing.T) {
	p := write(t, "kb.jsonl", `{"id": "horario", "lang": "es", "title": "Horario", "questions": ["¿a qué hora abrís?", "horario del
 sábado"], "body": "De 9 a 21 h."}
{"q": "¿qué tiempo hace?", "lang": "es"}
`)
	if _, err := kbimport.Load(p); err == nil || !strings.Contains(err.Error(), "kb.jsonl:1") {
		t.Fatalf("a record broken across lines: %v, want an error at kb.jsonl:1", err)
	}
	p = write(t, "kb.jsonl", `{"id": "horario", "lang": "es", "title": "Horario", "questions": ["¿a qué hora abrís?", "horario  del sábado"], "body": "De 9 a 21 h."}

{"q": "¿qué tiempo hace?", "lang": "es"}
`)
	arts, err := kbimport.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 {
		t.Fatalf("%d articles, want horario and the out-of-scope questions", len(arts))
	}
	for _, a := range arts {
		back, err := faq.Parse(a.Name, a.Data)
		if err != nil {
			t.Fatalf("%s does not load: %v\n%s", a.Name, err, a.Data)
		}
		if back.ID != a.Entry.ID || strings.Join(back.Questions, "|") != strings.Join(a.Entry.Questions, "|") || back.Body != a.Entry.Body {
			t.Errorf("%s loads as %+v, want %+v", a.Name, back, a.Entry)
		}
	}
	if q := arts[0].Entry.Questions[1]; q != "horario del sábado" {
		t.Errorf("question %q: spaces not joined", q)
	}
	if !arts[1].Entry.IsOutOfScope() || arts[1].Entry.Source != p+" (out-of-scope questions, es)" {
		t.Errorf("out-of-scope article %+v", arts[1].Entry)
	}
	if arts[0].Entry.Source != p+":1" {
		t.Errorf("source %q, want the file and its line", arts[0].Entry.Source)
	}
}

// Every problem is named with its file and line, and nothing is returned.
func TestLoadProblems(t *testing.T) {
	p := write(t, "kb.jsonl", `{"id": "a", "lang": "es", "title": "A", "questions": ["q"], "body": "b"}
{"q": "¿cómo pago?", "lang": "es", "want": "pagos"}
{"lang": "es"}
{"id": "a", "lang": "es", "title": "A otra vez", "questions": ["q2"], "body": "b"}
`)
	arts, err := kbimport.Load(p)
	if err == nil || arts != nil {
		t.Fatalf("got %d articles, err %v", len(arts), err)
	}
	for _, want := range []string{"kb.jsonl:2: a labelled question", "kb.jsonl:3: neither an article", "duplicate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// CLINC150's data_full.json: its training split becomes articles (one per
// intent) and out-of-scope examples; its validation split labelled
// questions.
func TestCLINCFormat(t *testing.T) {
	p := write(t, "data_full.json", `{"train": [["what is my balance", "balance"], ["how much money do i have", "balance"], ["freeze my card", "freeze_account"]],
 "val": [["balance please", "balance"]], "oos_train": [["tell me a joke", "oos"]], "oos_val": [["sing a song", "oos"]]}`)
	arts, err := kbimport.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, a := range arts {
		got[a.Entry.ID] = len(a.Entry.Questions)
	}
	if got["balance"] != 2 || got["freeze_account"] != 1 || got[faq.OutOfScope] != 1 {
		t.Errorf("articles and their questions: %v", got)
	}
	data, _ := os.ReadFile(p)
	qs, err := kbimport.ReadQuestions(p, data)
	if err != nil {
		t.Fatal(err)
	}
	wants := map[string]string{}
	for _, q := range qs {
		wants[q.Q] = q.Want
	}
	if len(qs) != 2 || wants["balance please"] != "balance" || wants["sing a song"] != faq.OutOfScope {
		t.Errorf("labelled questions: %+v", qs)
	}
}
