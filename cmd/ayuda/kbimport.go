package main

// `ayuda kb import`: articles in the eval format (../shared/eval/README.md),
// JSON lines or CSV, turned into article files (package kbimport).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"ayuda/faq"
	"ayuda/kbimport"
)

// cmdKBTools runs the kb subcommands of this file.
func cmdKBTools(ctx context.Context, e *env, args []string) error {
	switch args[0] {
	case "import":
		return cmdKBImport(e, args[1:])
	case "report":
		return cmdKBReport(ctx, e, args[1:])
	case "suggest":
		return cmdKBSuggest(ctx, e, args[1:])
	}
	return fmt.Errorf("kb: unknown action %q", args[0])
}

// progressEvery is how many article files kb import writes between two
// lines of progress.
const progressEvery = 1000

func cmdKBImport(e *env, args []string) error {
	fs, _ := newFlags("kb import", e)
	out := fs.String("out", "articles", "folder to write the article files to")
	force := fs.Bool("force", false, "overwrite article files that exist")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("kb import: usage: ayuda kb import FILE.jsonl|FILE.csv... [--out DIR]")
	}
	ims, err := kbimport.Load(files...)
	if err != nil {
		return fmt.Errorf("kb import: nothing written:\n%w", err)
	}
	if !*force {
		for _, im := range ims {
			p := filepath.Join(*out, filepath.FromSlash(im.Name))
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("kb import: %s exists; nothing written (use --force to overwrite)", p)
			}
		}
	}
	var articles, oos int
	if len(ims) >= progressEvery {
		fmt.Fprintf(e.stderr, "kb import: writing %d files to %s…\n", len(ims), *out)
	}
	for i, im := range ims {
		if i > 0 && i%progressEvery == 0 {
			fmt.Fprintf(e.stderr, "kb import: %d of %d written\n", i, len(ims))
		}
		p := filepath.Join(*out, filepath.FromSlash(im.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("kb import: %w", err)
		}
		if err := os.WriteFile(p, im.Data, 0o644); err != nil {
			return fmt.Errorf("kb import: %w", err)
		}
		if im.Entry.IsOutOfScope() {
			oos += len(im.Entry.Questions)
		} else {
			articles++
		}
	}
	fmt.Fprintf(e.stdout, "%s: %s", *out, plural(articles, "article", "articles"))
	if oos > 0 {
		fmt.Fprintf(e.stdout, " and %s (%s)", plural(oos, "out-of-scope question", "out-of-scope questions"), faq.OutOfScope)
	}
	fmt.Fprintln(e.stdout, " written")
	return nil
}
