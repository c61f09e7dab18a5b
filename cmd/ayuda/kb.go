package main

// `ayuda ask` and `ayuda kb`: one question through the engine, and the
// tools for the articles folder.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"ayuda/dialog"
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
	r, err := knowledge.Lint(ctx, cfg.Articles)
	if err != nil {
		return err
	}
	problems, n := r.Problems, r.Articles
	for _, p := range problems {
		fmt.Fprintln(e.stdout, p)
	}
	for _, n := range r.Notes {
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
