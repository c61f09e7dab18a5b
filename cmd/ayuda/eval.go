package main

// `ayuda eval`: the engine's decisions measured on labelled questions.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"ayuda/dialog"
	"ayuda/evaluate"
	"ayuda/faq"
	"ayuda/kbimport"
	"ayuda/knowledge"
)

func cmdEval(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("eval", e)
	minAcc := fs.Float64("min-accuracy", 0, "fail below this in-scope accuracy (0-1)")
	minRecall := fs.Float64("min-oos-recall", 0, "fail below this out-of-scope recall (0-1)")
	minPrecision := fs.Float64("min-oos-precision", 0, "fail below this out-of-scope precision (0-1)")
	minEscalation := fs.Float64("min-escalation", 0, "fail below this share of \"human\" questions escalated (0-1)")
	maxWrong := fs.Float64("max-wrong", 0, "fail above this share of wrong answers (0-1)")
	showMisses := fs.Bool("show-misses", false, "list every question not answered with its article, with the best hits")
	oosFlag := fs.String("out-of-scope", "", "out-of-scope examples (.jsonl of {\"q\",\"lang\"}) to learn from; default: out-of-scope-examples.jsonl beside an articles file; none: no file")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return errors.New("eval: usage: ayuda eval [--articles DIR|FILE.jsonl] [QUESTIONS.jsonl] [--json] [--min-accuracy F]")
	}
	for _, f := range []float64{*minAcc, *minRecall, *minPrecision, *minEscalation, *maxWrong} {
		if f < 0 || f > 1 {
			return errors.New("eval: the --min bars are fractions between 0 and 1")
		}
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	res := evaluate.Result{ShowMisses: *showMisses}
	entries, questionsData, questionsName, err := evaluate.Load(cfg.Articles, *oosFlag, rest, &res)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	qs, err := kbimport.ReadQuestions(questionsName, questionsData)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	for _, en := range entries {
		if en.IsOutOfScope() {
			res.OutOfScopeExamples += len(en.Questions)
		} else {
			res.Articles++
		}
	}
	var opt knowledge.Options
	if info, err := os.Stat(cfg.Articles); err == nil && info.IsDir() {
		if opt.Synonyms, err = knowledge.LoadSynonyms(cfg.Articles); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	start := time.Now()
	idx, err := knowledge.Open(entries, opt)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	for _, n := range idx.Notes() {
		fmt.Fprintln(e.stderr, "note: "+n)
	}
	defer idx.Close()
	res.BuildMS = float64(time.Since(start).Microseconds()) / 1000
	eng, err := dialog.New(dialog.Config{Search: idx, AnswerThreshold: cfg.Thresholds.Answer, ClarifyThreshold: cfg.Thresholds.Clarify, Margin: cfg.Thresholds.Margin, DefaultLang: cfg.Lang})
	if err != nil {
		return err
	}
	th := eng.Settings()
	res.AnswerThreshold, res.ClarifyThreshold, res.Margin = th.AnswerThreshold, th.ClarifyThreshold, th.Margin
	if err := evaluate.Run(ctx, eng, qs, &res); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if c.json {
		if err := printJSON(e.stdout, res); err != nil {
			return err
		}
	} else {
		evaluate.Print(e.stdout, &res)
	}
	var failed []string
	bar := func(name string, got, want float64) {
		if want > 0 && got < want {
			failed = append(failed, fmt.Sprintf("%s %.4f is below %.4f", name, got, want))
		}
	}
	bar("in-scope accuracy", res.InScopeAccuracy, *minAcc)
	if (*minRecall > 0 || *minPrecision > 0) && res.OutOfScope == 0 {
		return fmt.Errorf("eval: %s has no out-of-scope questions (want %q) to measure recall or precision on", questionsName, faq.OutOfScope)
	}
	bar("out-of-scope recall", res.OutOfScopeRecall, *minRecall)
	bar("out-of-scope precision", res.OutOfScopePrecision, *minPrecision)
	bar("escalation rate", res.EscalationRate, *minEscalation)
	if *maxWrong > 0 && res.WrongAnswerRate > *maxWrong {
		failed = append(failed, fmt.Sprintf("wrong-answer rate %.4f is above %.4f", res.WrongAnswerRate, *maxWrong))
	}
	if len(failed) > 0 {
		fmt.Fprintln(e.stderr, "ayuda eval: FAIL: "+strings.Join(failed, "; "))
		return errSilent
	}
	return nil
}
