package main

// `ayuda ask` and `ayuda kb`: one question through the engine, and the
// tools for the articles folder.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"ayuda/config"
	"ayuda/dialog"
	"ayuda/faq"
	"ayuda/knowledge"
)

func cmdAsk(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("ask", e)
	lang := fs.String("lang", "", "es or en (default: detected)")
	internal := fs.Bool("internal", false, "include internal articles (as staff)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	q := joinArgs(rest)
	if q == "" {
		return errors.New(`ask: what is the question? e.g. ayuda ask "¿dónde está mi pedido?"`)
	}
	if *lang != "" && *lang != "es" && *lang != "en" {
		return fmt.Errorf("ask: --lang must be es or en")
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	idx, closeIndex, err := openIndex(cfg, slog.New(slog.NewTextHandler(e.stderr, nil)))
	if err != nil {
		return err
	}
	defer closeIndex()
	eng, err := dialog.New(dialog.Config{Search: idx, AnswerThreshold: cfg.Thresholds.Answer, ClarifyThreshold: cfg.Thresholds.Clarify, Margin: cfg.Thresholds.Margin, DefaultLang: cfg.Lang})
	if err != nil {
		return err
	}
	d, err := eng.Ask(ctx, q, *lang, *internal)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, d)
	}
	fmt.Fprintf(e.stdout, "decision: %s", d.Decision)
	if d.Article != "" {
		fmt.Fprintf(e.stdout, " → %s", d.Article)
	}
	fmt.Fprintf(e.stdout, " (lang %s)\n", d.Lang)
	for _, h := range d.Hits {
		fmt.Fprintf(e.stdout, "  %-24s confidence %.3f  score %.3f  %s\n", h.ID, h.Confidence, h.Score, h.Title)
	}
	return nil
}

func cmdKB(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("kb", e)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] != "lint" {
		return errors.New("kb: usage: ayuda kb lint [DIR]")
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		cfg.Articles = rest[1]
	}
	problems, notes, n, err := lint(ctx, cfg)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(e.stdout, p)
	}
	for _, n := range notes {
		fmt.Fprintln(e.stdout, "note: "+n)
	}
	where := cfg.Articles
	if where == "" {
		where = "built-in articles"
	}
	fmt.Fprintf(e.stdout, "%s: %s, %s\n", where, plural(n, "article", "articles"), plural(len(problems), "problem", "problems"))
	if len(problems) > 0 {
		return errSilent
	}
	return nil
}

// lint lists every problem with a set of articles: format errors, a
// synonyms.yaml that cannot be read, then example questions whose best
// match is another article. Notes say which parts of the method the
// articles leave unused, and why; they are not problems.
func lint(ctx context.Context, cfg *config.Config) ([]string, []string, int, error) {
	var entries []faq.Entry
	var problems []string
	if cfg.Articles == "" {
		var err error
		if entries, err = faq.Builtin(); err != nil {
			return nil, nil, 0, err
		}
	} else {
		var err error
		entries, err = faq.Load(os.DirFS(cfg.Articles))
		var errs faq.Errors
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				problems = append(problems, e.Error())
			}
		case err != nil:
			return nil, nil, 0, err
		}
	}
	// A duplicate was reported above; index the first of each id only.
	seen := map[string]bool{}
	unique := entries[:0:0]
	for _, e := range entries {
		if !seen[e.Key()] {
			seen[e.Key()] = true
			unique = append(unique, e)
		}
	}
	entries = unique
	for _, e := range entries {
		if len(e.Questions) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no example questions: add some ways people ask this", e.Source))
		}
	}
	syn, err := knowledge.LoadSynonyms(cfg.Articles)
	if err != nil {
		problems = append(problems, err.Error())
	}
	idx, err := knowledge.Open(entries, knowledge.Options{Synonyms: syn})
	if err != nil {
		return nil, nil, 0, err
	}
	defer idx.Close()
	for _, e := range entries {
		if e.IsOutOfScope() {
			continue // questions no article answers, on purpose
		}
		for _, q := range e.Questions {
			hits, err := idx.Search(ctx, knowledge.Query{Text: q, Lang: e.Lang, Internal: true, Limit: 2})
			if err != nil && !errors.Is(err, knowledge.ErrEmpty) {
				return nil, nil, 0, err
			}
			if len(hits) == 0 {
				problems = append(problems, fmt.Sprintf("%s: question %q finds no article at all", e.Source, q))
				continue
			}
			if hits[0].ID != e.ID {
				problems = append(problems, fmt.Sprintf("%s: question %q best matches %s (confidence %.2f) instead of its own article: the two articles conflict", e.Source, q, hits[0].ID, hits[0].Confidence))
			}
		}
	}
	articles := 0 // the out-of-scope examples are no article
	for _, e := range entries {
		if !e.IsOutOfScope() {
			articles++
		}
	}
	return problems, idx.Notes(), articles, nil
}
