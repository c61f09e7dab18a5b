package knowledge

// An articles folder: read with the author's synonyms, and watched so that
// a change is in service within seconds (or, when it has errors, logged
// while the previous articles stay in service).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"ayuda/faq"
)

// loadArticles reads the articles of folder dir, or the built-in ones when
// dir is empty.
func loadArticles(dir string) ([]faq.Entry, error) {
	if dir == "" {
		return faq.Builtin()
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("articles: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("articles: %s is not a folder", dir)
	}
	entries, err := faq.Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("articles in %s:\n%w", dir, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("articles: no .md or .yaml articles in %s", dir)
	}
	return entries, nil
}

// LoadSynonyms reads the author's synonyms file (faq.SynonymsFile) in the
// articles folder dir, if there is one.
func LoadSynonyms(dir string) (Synonyms, error) {
	if dir == "" {
		return nil, nil
	}
	p := filepath.Join(dir, faq.SynonymsFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("synonyms: %w", err)
	}
	syn, err := ParseSynonyms(data)
	if err != nil {
		return nil, fmt.Errorf("synonyms: %s: %w", p, err)
	}
	return syn, nil
}

// LoadFolder reads the articles and the author's synonyms of folder dir
// ("": the built-in articles).
func LoadFolder(dir string) ([]faq.Entry, Options, error) {
	entries, err := loadArticles(dir)
	if err != nil {
		return nil, Options{}, err
	}
	syn, err := LoadSynonyms(dir)
	if err != nil {
		return nil, Options{}, err
	}
	return entries, Options{Synonyms: syn}, nil
}

// Folder keeps an index in step with the articles folder it was built
// from.
type Folder struct {
	dir  string
	idx  *Index
	log  *slog.Logger
	last string // the folder's fingerprint when last loaded
}

// NewFolder watches dir for idx, which holds dir's articles now.
func NewFolder(idx *Index, dir string, log *slog.Logger) *Folder {
	return &Folder{dir: dir, idx: idx, log: log, last: fingerprint(dir)}
}

// Watch checks the folder every period until ctx is done.
func (f *Folder) Watch(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f.Check(ctx)
	}
}

// Check reloads the articles if the folder changed since the last check,
// and reports whether it did and why not. A folder with errors keeps the
// previous articles in service.
func (f *Folder) Check(ctx context.Context) (bool, error) {
	fp := fingerprint(f.dir)
	if fp == f.last {
		return false, nil
	}
	f.last = fp
	start := time.Now()
	entries, opt, err := LoadFolder(f.dir)
	if err == nil {
		err = f.idx.Replace(entries, opt)
		// Training leaves garbage the size of the old model; give it
		// back now.
		debug.FreeOSMemory()
	}
	if err != nil {
		f.log.WarnContext(ctx, "articles changed but were not reloaded; the previous ones stay in service", "err", err)
		return false, err
	}
	f.log.InfoContext(ctx, "articles reloaded", "articles", len(entries), "took", time.Since(start))
	return true, nil
}

// fingerprint summarises the names, sizes and times of the article files.
func fingerprint(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !faq.IsArticle(p) { // synonyms.yaml included
			return nil
		}
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
