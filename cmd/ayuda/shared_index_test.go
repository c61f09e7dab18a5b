package main

import (
	"sync"

	"ayuda/config"
	"ayuda/faq"
	"ayuda/knowledge"
)

// The commands the tests run each build their index, and building one
// trains a classifier: seconds under the race detector, times dozens of
// commands. The built-in articles' index (no synonyms) is read-only, so
// the tests build it once and share it; every other index is built as the
// program builds it.
var builtinShared = sync.OnceValues(func() (*knowledge.Index, error) {
	entries, err := faq.Builtin()
	if err != nil {
		return nil, err
	}
	return knowledge.New(entries)
})

func init() {
	build := buildIndex
	buildIndex = func(cfg *config.Config, entries []faq.Entry, opt knowledge.Options) (*knowledge.Index, func() error, error) {
		if cfg.Articles != "" || len(opt.Synonyms) > 0 {
			return build(cfg, entries, opt)
		}
		idx, err := builtinShared()
		return idx, func() error { return nil }, err
	}
}
