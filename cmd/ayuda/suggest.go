package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"ayuda/escalation"
	"ayuda/kbimport"
	"ayuda/knowledge"
)

// cmdKBSuggest proposes changes to the articles from what customers asked
// and the bot could not answer: questions it found nothing for, answers
// the customer said did not help, and tickets agents answered. Each
// suggestion is written as a whole article file into --out: an existing
// article with more example questions, or a new article drafted from the
// questions and the agent's reply. Accepting one is copying its file into
// the articles folder. It reads the store, so the server must be stopped
// (bbolt has one writer).
func cmdKBSuggest(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("kb suggest", e)
	per := periodFlags(fs, "kb suggest", "30d")
	out := fs.String("out", "", "folder to write the suggested article files to (required)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("kb suggest: say where to write the suggestions: --out DIR (then review them and copy the ones you accept into the articles folder)")
	}
	cfg, start, end, err := per.load(c, e)
	if err != nil {
		return err
	}
	q, err := openExistingStore(ctx, cfg, "kb suggest", "suggestions come from what customers asked")
	if err != nil {
		return err
	}
	defer q.Close()
	asked, err := askedFromStore(ctx, q, start, end)
	if err != nil {
		return err
	}
	idx, closeIndex, err := openIndex(cfg, discardLog())
	if err != nil {
		return err
	}
	defer closeIndex()
	sugg, err := idx.Suggest(ctx, asked)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("kb suggest: %w", err)
	}
	for _, s := range sugg {
		name := s.Entry.ID + ".md"
		if s.Entry.Source != "" {
			name = filepath.Base(s.Entry.Source)
		} else if s.Entry.Lang == "en" {
			name = s.Entry.ID + "-en.md"
		}
		data, err := kbimport.ArticleFile(s.Entry)
		if err != nil {
			return err
		}
		p := filepath.Join(*out, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("kb suggest: %w", err)
		}
		if s.New {
			fmt.Fprintf(e.stdout, "new article %s (%s) from %d questions no article answers → %s\n", s.Entry.ID, s.Entry.Lang, s.Evidence, p)
		} else {
			fmt.Fprintf(e.stdout, "%s (%s): %d new example questions, asked %d times → %s\n", s.Entry.ID, s.Entry.Lang, len(s.Added), s.Evidence, p)
		}
	}
	fmt.Fprintf(e.stdout, "%d questions read, %d suggestions; review them, then copy the files you accept into the articles folder\n", len(asked), len(sugg))
	return nil
}

// askedFromStore gathers what the bot did not answer well in a period:
// questions with no answer or a "No", and each ticket's first question
// with the agent's first public reply.
func askedFromStore(ctx context.Context, q *escalation.Queue, start, end time.Time) ([]knowledge.Asked, error) {
	answers, err := q.Answers(ctx, start, end)
	if err != nil {
		return nil, err
	}
	var out []knowledge.Asked
	for _, a := range answers {
		if a.Article == "" || a.Feedback == "no" {
			out = append(out, knowledge.Asked{Question: a.Question, Lang: a.Lang})
		}
	}
	tickets, err := q.List(ctx, escalation.Filter{})
	if err != nil {
		return nil, err
	}
	for _, t := range tickets {
		if t.Archived > 0 {
			whole, err := q.Get(ctx, t.ID)
			if err != nil {
				return nil, err
			}
			t = *whole
		}
		question, reply := t.Summary, ""
		for _, en := range t.Transcript {
			if en.Time.Before(start) || !en.Time.Before(end) {
				continue
			}
			switch {
			case en.Author == escalation.AuthorCustomer && question == "" && en.Text != "":
				question = en.Text
			case en.Author == escalation.AuthorAgent && !en.Note && reply == "" && question != "":
				reply = en.Text
			}
		}
		if question != "" && reply != "" {
			out = append(out, knowledge.Asked{Question: question, Lang: t.Customer.Lang, Reply: reply})
		}
	}
	return out, nil
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
