package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"ayuda/config"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

// app is ayuda opened: the store, the index and the engine.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	queue *escalation.Queue
	index *knowledge.Index
	// closeIndex lets go of index (see buildIndex).
	closeIndex func() error
	engine     *dialog.Engine
}

// buildIndex builds an index and says how to let go of it. The tests
// replace it to share one read-only index of the built-in articles
// between the many commands they run (each build trains a classifier).
var buildIndex = func(cfg *config.Config, entries []faq.Entry, opt knowledge.Options) (*knowledge.Index, func() error, error) {
	idx, err := knowledge.Open(entries, opt)
	if err != nil {
		return nil, nil, err
	}
	return idx, idx.Close, nil
}

// openIndex builds the knowledge index from the configured articles, and
// logs what part of the method the articles leave unused. close lets go
// of it.
func openIndex(cfg *config.Config, log *slog.Logger) (idx *knowledge.Index, close func() error, err error) {
	entries, opt, err := knowledge.LoadFolder(cfg.Articles)
	if err != nil {
		return nil, nil, err
	}
	idx, close, err = buildIndex(cfg, entries, opt)
	if err != nil {
		return nil, nil, err
	}
	// Training leaves hundreds of MB of garbage on a large knowledge base;
	// give it back now rather than whenever the scavenger gets to it.
	debug.FreeOSMemory()
	for _, n := range idx.Notes() {
		log.Warn("articles: "+n, "part", "knowledge")
	}
	return idx, close, nil
}

// openApp opens the store in the data directory and builds the engine.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// The store first: a data file that is locked or not ours is reported
	// at once, before the articles are indexed.
	qc := cfg.Queue()
	qc.Notify, qc.Logger = dialog.Notifier(), log.With("part", "escalation")
	q, err := openStore(ctx, cfg, qc)
	if err != nil {
		return nil, err
	}
	idx, closeIndex, err := openIndex(cfg, log)
	if err != nil {
		q.Close()
		return nil, err
	}
	eng, err := dialog.New(dialog.Config{
		Search:           idx,
		Queue:            q,
		AnswerThreshold:  cfg.Thresholds.Answer,
		ClarifyThreshold: cfg.Thresholds.Clarify,
		Margin:           cfg.Thresholds.Margin,
		DefaultLang:      cfg.Lang,
		Location:         cfg.Location(),
		Logger:           log.With("part", "dialog"),
	})
	if err != nil {
		q.Close()
		closeIndex()
		return nil, err
	}
	return &app{cfg: cfg, log: log, queue: q, index: idx, closeIndex: closeIndex, engine: eng}, nil
}

func (a *app) Close() error {
	return errors.Join(a.queue.Close(), a.closeIndex())
}

// minToken is the shortest operator token accepted: a token anyone can
// guess protects nothing.
const minToken = 16

// apiToken returns the operator's token: AYUDA_API_TOKEN, or the one in
// the data directory, created on first use.
func apiToken(cfg *config.Config, getenv func(string) string, create bool) (string, error) {
	if t := getenv("AYUDA_API_TOKEN"); t != "" {
		if len(strings.TrimSpace(t)) < minToken {
			return "", fmt.Errorf("AYUDA_API_TOKEN is too short (%d characters; at least %d): use a long random one, e.g. `openssl rand -hex 24`, or unset it to have one generated into %s", len(strings.TrimSpace(t)), minToken, filepath.Join(cfg.Data, "api-token"))
		}
		return strings.TrimSpace(t), nil
	}
	path := filepath.Join(cfg.Data, "api-token")
	data, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		switch {
		case tok == "":
			return "", fmt.Errorf("%s is empty: delete it to have a new token generated, or write one of at least %d characters into it", path, minToken)
		case len(tok) < minToken:
			return "", fmt.Errorf("the token in %s is too short (%d characters; at least %d): delete the file to have a new one generated", path, len(tok), minToken)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return "", fmt.Errorf("api token: %w", err)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return tok, nil
}

// secretFilesReadable names the data directory's secret files that users
// other than the owner can read.
func secretFilesReadable(data string) []string {
	var out []string
	paths := []string{filepath.Join(data, "api-token")}
	if ms, _ := filepath.Glob(filepath.Join(tokensDir(data), "*")); ms != nil {
		paths = append(paths, ms...)
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s (mode %04o)", p, fi.Mode().Perm()))
		}
	}
	return out
}

// watchArticles rebuilds the index when the articles folder changes, until
// ctx is done.
func (a *app) watchArticles(ctx context.Context, every time.Duration) error {
	if a.cfg.Articles == "" {
		return nil
	}
	return knowledge.NewFolder(a.index, a.cfg.Articles, a.log).Watch(ctx, every)
}
