package knowledge

import (
	"context"
	"errors"
	"fmt"
	"os"

	"ayuda/faq"
)

// LintReport is what Lint found.
type LintReport struct {
	// Problems are what the author should fix, each with its file.
	Problems []string
	// Notes say which parts of the method the articles leave unused, and
	// why; they are not problems.
	Notes []string
	// Articles counts the articles (the out-of-scope examples are none).
	Articles int
}

// Lint lists every problem with the articles of folder dir (""; the
// built-in ones): format errors, a synonyms file that cannot be read,
// articles without example questions, then example questions whose best
// match is another article.
func Lint(ctx context.Context, dir string) (*LintReport, error) {
	var entries []faq.Entry
	var problems []string
	if dir == "" {
		var err error
		if entries, err = faq.Builtin(); err != nil {
			return nil, err
		}
	} else {
		var err error
		entries, err = faq.Load(os.DirFS(dir))
		var errs faq.Errors
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				problems = append(problems, e.Error())
			}
		case err != nil:
			return nil, err
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
	syn, err := LoadSynonyms(dir)
	if err != nil {
		problems = append(problems, err.Error())
	}
	idx, err := Open(entries, Options{Synonyms: syn})
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	for _, e := range entries {
		if e.IsOutOfScope() {
			continue // questions no article answers, on purpose
		}
		for _, q := range e.Questions {
			hits, err := idx.Search(ctx, Query{Text: q, Lang: e.Lang, Internal: true, Limit: 2})
			if err != nil && !errors.Is(err, ErrEmpty) {
				return nil, err
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
	return &LintReport{Problems: problems, Notes: idx.Notes(), Articles: articles}, nil
}
