package evaluate_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"ayuda/dialog"
	"ayuda/evaluate"
	"ayuda/faq"
	"ayuda/internal/desktest"
	"ayuda/kbimport"
)

// The counts and rates of a run add up: every question is counted once,
// as right, wrong, offered, declined or escalated; the reliability bins
// hold every question with a hit, and the rates are their counts over the
// questions they are about.
func TestRunCountsEveryQuestion(t *testing.T) {
	eng, err := dialog.New(dialog.Config{Search: desktest.Index(t)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := faq.BuiltinFile("eval.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := kbimport.ReadQuestions("eval.jsonl", data)
	if err != nil {
		t.Fatal(err)
	}
	qs = append(qs,
		kbimport.Question{Q: "quiero hablar con una persona de verdad", Lang: "es", Want: kbimport.Human},
		kbimport.Question{Q: "asdf qwerty", Lang: "es", Want: faq.OutOfScope})
	res := evaluate.Result{ShowMisses: true}
	if err := evaluate.Run(t.Context(), eng, qs, &res); err != nil {
		t.Fatal(err)
	}
	if res.Questions != len(qs) || res.InScope+res.OutOfScope+res.HumanQuestions != len(qs) {
		t.Fatalf("%d questions: %d in scope + %d out of scope + %d for a person", len(qs), res.InScope, res.OutOfScope, res.HumanQuestions)
	}
	if res.HumanQuestions != 1 || res.Escalated != 1 {
		t.Errorf("a request for a person: %d of %d escalated", res.Escalated, res.HumanQuestions)
	}
	if got := float64(res.AnsweredRight) / float64(res.InScope); math.Abs(got-res.InScopeAccuracy) > 1e-9 {
		t.Errorf("accuracy %.4f, but %d of %d answered right", res.InScopeAccuracy, res.AnsweredRight, res.InScope)
	}
	if got := float64(res.AnsweredWrong+res.OutOfScopeAnswered) / float64(res.InScope+res.OutOfScope); math.Abs(got-res.WrongAnswerRate) > 1e-9 {
		t.Errorf("wrong-answer rate %.4f, but %d wrong and %d off-topic answered", res.WrongAnswerRate, res.AnsweredWrong, res.OutOfScopeAnswered)
	}
	binned := 0
	for _, b := range res.Reliability {
		binned += b.Questions
		if b.Confidence < b.Low || b.Confidence > b.High || b.Accuracy < 0 || b.Accuracy > 1 {
			t.Errorf("bin %+v", b)
		}
	}
	if binned == 0 || binned > res.InScope+res.OutOfScope || res.ECE < 0 || res.ECE > 1 {
		t.Errorf("%d questions in the reliability table, ECE %.3f", binned, res.ECE)
	}
	misses := len(qs) - res.AnsweredRight - (res.OutOfScope - res.OutOfScopeAnswered) - res.Escalated
	if len(res.Misses) != misses {
		t.Errorf("%d misses listed, want %d", len(res.Misses), misses)
	}
	var out bytes.Buffer
	evaluate.Print(&out, &res)
	for _, want := range []string{"in-scope", "ECE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
}
