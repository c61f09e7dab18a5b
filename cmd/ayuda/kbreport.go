package main

// `ayuda kb report`: what customers said did not help.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"ayuda/escalation"
)

// cmdKBReport lists the articles customers most often said did not help,
// and the questions that most often ended in a ticket: where the articles
// need work. It reads the store, so the server must be stopped (bbolt has
// one writer).
func cmdKBReport(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("kb report", e)
	per := periodFlags(fs, "kb report", "30d")
	limit := fs.Int("limit", 10, "at most this many articles and questions")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, start, end, err := per.load(c, e)
	if err != nil {
		return err
	}
	q, err := openExistingStore(ctx, cfg, "kb report", "feedback is recorded as customers answer \"did this solve it?\"")
	if err != nil {
		return err
	}
	defer q.Close()
	f, err := q.FeedbackStats(ctx, start, end)
	if err != nil {
		return err
	}
	if *limit > 0 {
		f.Articles = f.Articles[:min(*limit, len(f.Articles))]
		f.Questions = f.Questions[:min(*limit, len(f.Questions))]
	}
	if c.json {
		return printJSON(e.stdout, f)
	}
	printFeedback(e.stdout, f, cfg.Location())
	return nil
}

func printFeedback(w io.Writer, f *escalation.Feedback, loc *time.Location) {
	fmt.Fprintf(w, "Feedback from %s to %s\n\n", f.Since.In(loc).Format("2006-01-02 15:04"), f.Until.In(loc).Format("2006-01-02 15:04"))
	if len(f.Articles) == 0 {
		fmt.Fprintln(w, "No article was answered in this period.")
	} else {
		fmt.Fprintln(w, "Articles, worst feedback first (\"did this solve it?\"):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ARTICLE\tLANG\tANSWERED\tYES\tNO\tNO RATE")
		for _, a := range f.Articles {
			rate := "-" // no feedback yet: not a 0% no rate
			if a.Yes+a.No > 0 {
				rate = fmt.Sprintf("%.0f%%", 100*a.NoRate)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\n", a.Article, a.Lang, a.Answered, a.Yes, a.No, rate)
		}
		tw.Flush()
		for _, a := range f.Articles {
			for _, q := range a.NoQuestions {
				fmt.Fprintf(w, "    %s/%s did not help with: %s\n", a.Article, a.Lang, q)
			}
		}
	}
	fmt.Fprintln(w)
	if len(f.Questions) == 0 {
		fmt.Fprintln(w, "No question ended in a ticket in this period.")
		return
	}
	fmt.Fprintln(w, "Questions that most often ended in a ticket:")
	for _, q := range f.Questions {
		var ids []string
		for _, id := range q.Tickets {
			ids = append(ids, "#"+id.String())
		}
		fmt.Fprintf(w, "  %3d  %s  (%s", q.Count, q.Question, strings.Join(ids, " "))
		if len(q.Articles) > 0 {
			fmt.Fprintf(w, "; offered %s", strings.Join(q.Articles, ", "))
		}
		fmt.Fprintln(w, ")")
	}
}
