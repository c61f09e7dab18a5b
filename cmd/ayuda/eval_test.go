package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ayuda/config"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/evaluate"
	"ayuda/faq"
)

const toyArticles = `{"id": "hours", "lang": "en", "title": "Opening hours", "questions": ["when are you open", "what time do you open", "are you open on sunday", "what are your hours", "opening times of the shop"], "body": "9 to 5."}
{"id": "password", "lang": "en", "title": "Reset my password", "questions": ["I forgot my password", "how do I change my password", "password not working", "reset password", "new password please"], "body": "Use the link."}
{"id": "shipping", "lang": "en", "title": "Shipping costs", "questions": ["how much is shipping", "do you charge for delivery", "what does delivery cost", "is shipping free", "delivery fees"], "body": "Free over 50."}
`

const toyQuestions = `{"q": "are you open on saturdays", "lang": "en", "want": "hours"}
{"q": "I forgot my pasword", "lang": "en", "want": "password"}
{"q": "how much does shipping cost", "lang": "en", "want": "shipping"}
{"q": "xqzt vbnm plokij", "lang": "en", "want": "no-answer"}
`

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// kb import writes article files the loader accepts, from JSON Lines or
// CSV, with out-of-scope questions as the no-answer article.
func TestKBImport(t *testing.T) {
	dir := t.TempDir()
	jsonl := write(t, dir, "articles.jsonl", toyArticles)
	oos := write(t, dir, "oos.jsonl", `{"q": "tell me a joke", "lang": "en"}`+"\n"+`{"q": "who won the match", "lang": "en"}`+"\n")
	csvFile := write(t, dir, "more.csv", "id,lang,title,questions,body\nreturns,en,Returns,\"how do I return it|can I send it back\",\"30 days, free.\"\n")
	out := filepath.Join(dir, "kb")
	got, err := cli(t, dir, "", "kb", "import", jsonl, oos, csvFile, "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "4 articles and 2 out-of-scope questions") {
		t.Errorf("import said %q", got)
	}
	entries, err := faq.Load(os.DirFS(out))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]faq.Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	if e := byID["returns"]; e.Title != "Returns" || len(e.Questions) != 2 || e.Body != "30 days, free." {
		t.Errorf("CSV article: %+v", e)
	}
	if e := byID[faq.OutOfScope]; len(e.Questions) != 2 || !e.IsOutOfScope() {
		t.Errorf("out-of-scope article: %+v", e)
	}
	if e := byID["hours"]; len(e.Questions) != 5 || e.Lang != "en" {
		t.Errorf("JSONL article: %+v", e)
	}
	// Importing again does not overwrite without --force.
	if _, err := cli(t, dir, "", "kb", "import", jsonl, "--out", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second import: %v", err)
	}
}

// Problems are reported with the file and line, and nothing is written.
func TestKBImportErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"bad.jsonl", toyArticles + `{"id": "x y", "lang": "en", "title": "T", "questions": ["q"], "body": "b"}` + "\n", "bad.jsonl:4: id \"x y\" must not contain"},
		{"lang.jsonl", `{"id": "a", "lang": "fr", "title": "T", "questions": ["q"], "body": "b"}` + "\n", "lang.jsonl:1: lang must be es or en"},
		{"json.jsonl", toyArticles + "{not json\n", "json.jsonl:4:"},
		{"dup.jsonl", toyArticles + `{"id": "hours", "lang": "en", "title": "Again", "questions": ["q"], "body": "b"}` + "\n", `dup.jsonl:4: duplicate id "hours"`},
		{"nobody.jsonl", `{"id": "a", "lang": "en", "title": "T", "questions": ["q"], "body": ""}` + "\n", "nobody.jsonl:1: empty answer"},
		{"cols.csv", "id,lang,title,body\na,en,T,b\n", `cols.csv:1: the header must name the columns`},
		{"fields.csv", "id,lang,title,questions,body\na,en,T\n", "fields.csv:2: 3 fields"},
	} {
		p := write(t, dir, tc.name, tc.data)
		out := filepath.Join(dir, "out-"+tc.name)
		_, err := cli(t, dir, "", "kb", "import", p, "--out", out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: written despite the error", tc.name)
		}
	}
}

// eval measures the decisions on labelled questions; --json has the
// documented fields, and the bars fail the command.
func TestEval(t *testing.T) {
	dir := t.TempDir()
	articles := write(t, dir, "articles.jsonl", toyArticles)
	questions := write(t, dir, "val.jsonl", toyQuestions)
	got, err := cli(t, dir, "", "eval", "--articles", articles, questions, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(got), &r); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	for _, k := range []string{"in_scope_accuracy", "out_of_scope_recall", "out_of_scope_precision", "clarify_rate", "questions", "p50_ms", "p99_ms"} {
		if _, ok := r[k]; !ok {
			t.Errorf("--json lacks %q: %s", k, got)
		}
	}
	if r["questions"] != 4.0 || r["in_scope_accuracy"] != 1.0 || r["out_of_scope_recall"] != 1.0 {
		t.Errorf("toy results: %s", got)
	}
	// A bar above what is measured fails, after printing the figures.
	if _, err := cli(t, dir, "", "eval", "--articles", articles, questions, "--min-oos-precision", "1", "--min-accuracy", "1"); err != nil {
		t.Errorf("bars met: %v", err)
	}
	write(t, dir, "hard.jsonl", toyQuestions+`{"q": "plokij zzzq", "lang": "en", "want": "hours"}`+"\n")
	_, err = cli(t, dir, "", "eval", "--articles", articles, filepath.Join(dir, "hard.jsonl"), "--min-accuracy", "0.99")
	if !errors.Is(err, errSilent) {
		t.Errorf("a bar not met: got %v, want a failure", err)
	}
	// --show-misses lists the question it got wrong, and only that one.
	got, err = cli(t, dir, "", "eval", "--articles", articles, filepath.Join(dir, "hard.jsonl"), "--show-misses")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "misses (1)") || !strings.Contains(got, `"plokij zzzq"`) || !strings.Contains(got, "want hours") {
		t.Errorf("--show-misses:\n%s", got)
	}
	// Bad labelled questions are reported with their line.
	write(t, dir, "bad.jsonl", toyQuestions+`{"q": "no label"}`+"\n")
	if _, err := cli(t, dir, "", "eval", "--articles", articles, filepath.Join(dir, "bad.jsonl")); err == nil || !strings.Contains(err.Error(), "bad.jsonl:5") {
		t.Errorf("bad questions file: %v", err)
	}
}

// eval without a questions file uses eval.jsonl beside the articles: the
// built-in ones have theirs, and every off-topic one is declined.
func TestEvalBuiltin(t *testing.T) {
	got, err := cli(t, t.TempDir(), "", "eval", "--json", "--min-oos-recall", "1", "--min-accuracy", "0.9")
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	// A folder of articles with its own eval.jsonl.
	dir := t.TempDir()
	kb := filepath.Join(dir, "kb")
	if _, err := cli(t, dir, "", "kb", "import", write(t, dir, "a.jsonl", toyArticles), "--out", kb); err != nil {
		t.Fatal(err)
	}
	write(t, kb, "eval.jsonl", toyQuestions)
	got, err = cli(t, dir, "", "eval", "--articles", kb)
	if err != nil || !strings.Contains(got, "in-scope accuracy") {
		t.Errorf("eval on a folder: %v\n%s", err, got)
	}
}

// kb report lists the articles with the worst feedback and the questions
// that ended in tickets, from the store.
func TestKBReport(t *testing.T) {
	dir := t.TempDir()
	if _, err := cli(t, dir, "", "kb", "report"); err == nil {
		t.Error("no store yet: want an error")
	}
	q := openTestStore(t, dir)
	ctx := t.Context()
	now := time.Now()
	for i, fb := range []string{"no", "no", "yes"} {
		a := escalation.Answer{Customer: "c" + fb, Question: "el reembolso no llega", Article: "reembolso", Lang: "es", At: now.Add(-time.Duration(i+1) * time.Minute), Feedback: fb}
		if err := q.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Open(ctx, escalation.Ticket{Type: escalation.Consulta, Priority: escalation.Normal, Summary: "el reembolso no llega", Reason: escalation.ReasonNegative, Offered: []escalation.Offer{{Article: "reembolso", Feedback: "no"}}}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	got, err := cli(t, dir, "", "kb", "report")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reembolso", "67%", "el reembolso no llega", "offered reembolso"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	got, err = cli(t, dir, "", "kb", "report", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var f escalation.Feedback
	if err := json.Unmarshal([]byte(got), &f); err != nil || len(f.Articles) != 1 || f.Articles[0].No != 2 || len(f.Questions) != 1 {
		t.Errorf("--json: %v %s", err, got)
	}
}

// The quality test: a knowledge base written the way companies start one
// (3 example questions per article) with questions and requests for a
// person written apart from the engine and never tuned on, through the
// engine's real default thresholds. (Its requests for a person were looked
// at once, when three handoff rules were mended; dialog's
// TestHandoffHeldOut measures handoff on sets nobody looked at.) The bars
// sit just under what was measured (docs/quality.md), so a regression
// fails.
func TestQualityHeldOut(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes a knowledge base and asks 159 questions")
	}
	kb := filepath.Join("..", "..", "eval", "kb-energia-es")
	var qs []byte
	for _, f := range []string{"questions.jsonl", "escalate.jsonl"} {
		data, err := os.ReadFile(filepath.Join(kb, f))
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, data...)
	}
	dir := t.TempDir()
	got, err := cli(t, dir, "", "eval", "--articles", filepath.Join(kb, "articles"), write(t, dir, "q.jsonl", string(qs)), "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	var r evaluate.Result
	if err := json.Unmarshal([]byte(got), &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("answered right %.3f, answered or offered %.3f, wrong %.3f, out-of-scope recall %.3f, escalated %.3f, ECE %.3f", r.InScopeAccuracy, r.AnsweredOrOffered, r.WrongAnswerRate, r.OutOfScopeRecall, r.EscalationRate, r.ECE)
	if r.InScopeAccuracy < 0.52 || r.AnsweredOrOffered < 0.76 || r.WrongAnswerRate > 0.03 || r.OutOfScopeRecall < 0.9 || r.EscalationRate < 0.85 || r.InScopeEscalated+r.OutOfScopeEscalated > 3 {
		t.Errorf("below the bars (answered 0.52, answered or offered 0.76, wrong at most 0.03, out-of-scope recall 0.9, escalated 0.85, at most 3 questions escalated)")
	}
	if len(r.Reliability) == 0 || r.ECE <= 0 || r.ECE > 0.3 {
		t.Errorf("reliability table %+v, ECE %.3f", r.Reliability, r.ECE)
	}
}

// An author's synonyms.yaml beside the articles makes their customers'
// words find the article; a broken one is a lint problem, named.
func TestSynonymsFile(t *testing.T) {
	dir := t.TempDir()
	arts := filepath.Join(dir, "kb")
	if err := os.MkdirAll(arts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(arts, os.DirFS(filepath.Join("..", "..", "eval", "kb-energia-es", "articles"))); err != nil {
		t.Fatal(err)
	}
	ask := func() string {
		got, err := cli(t, dir, "", "ask", "--articles", arts, "--json", "me toca el chequeazo?")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ask(); strings.Contains(got, `"decision": "answer"`) {
		t.Fatalf("answered before the synonym was there: %s", got)
	}
	write(t, arts, "synonyms.yaml", "groups:\n  - [bono social, chequeazo]\n")
	var d struct {
		Decision string
		Hits     []struct{ ID string }
	}
	got := ask()
	if err := json.Unmarshal([]byte(got), &d); err != nil {
		t.Fatal(err)
	}
	if d.Decision == "decline" || len(d.Hits) == 0 || d.Hits[0].ID != "bono-social" {
		t.Errorf("the author's synonym did not find the article: %s", got)
	}
	if got, err := cli(t, dir, "", "kb", "lint", arts); err != nil {
		t.Errorf("lint with a good synonyms.yaml: %v\n%s", err, got)
	}
	write(t, arts, "synonyms.yaml", "groups:\n  - [bono]\n")
	got, err := cli(t, dir, "", "kb", "lint", arts)
	if err == nil || !strings.Contains(got, "synonyms") {
		t.Errorf("a group of one word is not reported: %v\n%s", err, got)
	}
}

// kb suggest reads what customers asked from the store and writes article
// files: unanswered questions on one topic become a new article with the
// agent's reply; an accepted file is a valid article.
func TestKBSuggest(t *testing.T) {
	dir := t.TempDir()
	if _, err := cli(t, dir, "", "kb", "suggest", "--out", filepath.Join(dir, "out")); err == nil {
		t.Error("no store yet: want an error")
	}
	q := openTestStore(t, dir)
	ctx := t.Context()
	now := time.Now()
	for i, text := range []string{"¿organizáis catas de vino?", "¿cuándo es la próxima cata de vino?"} {
		if err := q.RecordAnswer(ctx, escalation.Answer{Customer: fmt.Sprint("c", i), Question: text, Lang: "es", At: now.Add(-time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	out := filepath.Join(dir, "out")
	got, err := cli(t, dir, "", "kb", "suggest", "--out", out)
	if err != nil || !strings.Contains(got, "new article") {
		t.Fatalf("%v\n%s", err, got)
	}
	entries, err := faq.Load(os.DirFS(out))
	if err != nil || len(entries) != 1 || len(entries[0].Questions) != 2 {
		t.Fatalf("suggested articles: %v %+v", err, entries)
	}
}

// openTestStore opens the store in dir as the commands would.
func openTestStore(t *testing.T, dir string) *escalation.Queue {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	qc := cfg.Queue()
	qc.Notify = dialog.Notifier()
	q, err := escalation.Open(filepath.Join(dir, "ayuda.db"), qc)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// The public datasets in the formats their authors publish: CLINC150's
// data_full.json and Banking77's text,category CSVs are imported as
// articles (CLINC150's out-of-scope training questions as out-of-scope
// examples) and read by eval as labelled questions (CLINC150's val split,
// a Banking77 CSV).
func TestPublicDatasetFormats(t *testing.T) {
	dir := t.TempDir()
	clinc := write(t, dir, "data_full.json", `{"train": [["can i book a table at redrobin", "accept_reservations"], ["does burger king take reservations", "accept_reservations"], ["what is my balance", "balance"], ["how much money do i have", "balance"]],
 "val": [["do they take reservations at hodak's", "accept_reservations"], ["tell me my balance", "balance"]],
 "oos_train": [["tell me a joke about cats", "oos"]], "oos_val": [["what is the capital of peru", "oos"]], "test": [], "oos_test": []}`)
	out, err := cli(t, dir, "", "kb", "import", clinc, "--out", filepath.Join(dir, "clinc"))
	if err != nil || !strings.Contains(out, "2 articles and 1 out-of-scope question") {
		t.Fatalf("import CLINC150: %v %s", err, out)
	}
	got, err := cli(t, dir, "", "eval", "--articles", filepath.Join(dir, "clinc"), clinc, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(got), &r); err != nil || r["in_scope"] != 2.0 || r["out_of_scope"] != 1.0 || r["in_scope_accuracy"] != 1.0 {
		t.Errorf("eval on CLINC150's val: %v %s", err, got)
	}
	train := write(t, dir, "train.csv", "text,category\nI still have not received my new card,card_arrival\nmy card has not arrived yet,card_arrival\nhow do I top up,top_up\nadd money to my account,top_up\n")
	test := write(t, dir, "test.csv", "text,category\nwhen will my card arrive,card_arrival\ncan I top up by card,top_up\n")
	if out, err := cli(t, dir, "", "kb", "import", train, "--out", filepath.Join(dir, "bank")); err != nil || !strings.Contains(out, "2 articles written") {
		t.Fatalf("import Banking77: %v %s", err, out)
	}
	got, err = cli(t, dir, "", "eval", "--articles", filepath.Join(dir, "bank"), test, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got), &r); err != nil || r["in_scope"] != 2.0 {
		t.Errorf("eval on Banking77's test.csv: %v %s", err, got)
	}
}
