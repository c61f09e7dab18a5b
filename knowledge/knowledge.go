// Package knowledge indexes faq entries with Bleve and answers questions
// with scored hits.
//
// Text is analysed once, by analysis.go: accents folded, stop words
// dropped, Snowball (es) or Porter (en) stems, and the concepts of the
// lexicon (lexicon.yaml and the author's synonyms.yaml) that a word or
// phrase stands for. Bleve indexes those terms, one field per language and
// audience, and finds a question's candidates from its terms, the words its
// typos stand for and their synonyms; a classifier trained from the example
// questions when the index is built (classifier.go) proposes its best
// articles too.
//
// Every candidate is then scored against everything its author wrote
// (lexical.go: title, example questions, tags and body), and decision.go
// turns those signals and the classifier's into the probability that the
// article is the answer, the same function for 3 example questions per
// article or a hundred, and for 10 articles or 10,000. A hit's Confidence
// is that probability. When a part of the method cannot be used on a set of
// articles, Notes says which and why.
//
// An Index is safe for concurrent use. Replace swaps in a new set of
// entries atomically, for hot reload.
package knowledge

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/whitespace"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"ayuda/faq"
)

// Hit is one article that matches a question.
type Hit struct {
	ID    string `json:"id"`
	Lang  string `json:"lang"`
	Title string `json:"title"`
	// Score is Bleve's raw score, comparable only within one query; 0 for
	// an article only the classifier proposed.
	Score float64 `json:"score"`
	// Confidence in [0,1]: the probability that the article is the answer
	// (decision.go). Comparable between queries and between knowledge
	// bases.
	Confidence float64 `json:"confidence"`
	// Example is the title or example question that matched best.
	Example string `json:"example,omitempty"`
	// Part is the part of a long message that the article matched, when
	// it matched a part better than the whole.
	Part  string    `json:"part,omitempty"`
	Entry faq.Entry `json:"-"`
}

// Query is a question to search for.
type Query struct {
	Text string
	// Lang restricts the search to one language; empty searches all.
	Lang string
	// Internal includes staff-only articles. Public channels leave it false.
	Internal bool
	// Limit is the number of hits wanted; zero means 5.
	Limit int
}

// Index is a searchable set of articles.
type Index struct {
	mu  sync.RWMutex
	cur *snapshot
}

// snapshot is one immutable build of the index.
type snapshot struct {
	idx     bleve.Index
	entries map[string]*article // by faq.Entry.Key()
	lex     map[string]*lexLang // per language
	models  map[string]*model   // per language; nil or absent: no classifier
	// perArticle is the mean number of example questions (and title) per
	// article in a language: how much the classifier had to learn from.
	perArticle map[string]float64
	// internal are the keys of each language's internal articles.
	internal map[string][]string
	notes    []string
}

// model is one language's classifier and what its classes are.
type model struct {
	clf        *classifier
	calibrated bool           // held-out example questions calibrated it
	classes    []string       // article key per class; "" for out of scope
	class      map[string]int // article key (or "") → class
}

type article struct {
	entry faq.Entry
}

// document is what Bleve stores for an article: one field, named after
// its language and audience ("es_public"), holding the analysed terms
// (stems and lexicon concepts, from analysis.go and lexicon.go) of its
// title and example questions twice and of its tags and body once,
// separated by spaces. One field and no filters keep a search to one pass
// over the postings of the question's terms; the lexical scorer weighs
// the fields afterwards.
type document struct {
	EsPublic   string `json:"es_public,omitempty"`
	EsInternal string `json:"es_internal,omitempty"`
	EnPublic   string `json:"en_public,omitempty"`
	EnInternal string `json:"en_internal,omitempty"`
}

// BleveType makes Bleve pick the document mapping (Bleve looks the type
// field up by Go name, not JSON tag; PLATFORMS.md).
func (d document) BleveType() string { return "article" }

// docField is the field of lang and audience.
func docField(lang string, internal bool) string {
	if internal {
		return lang + "_internal"
	}
	return lang + "_public"
}

func newDocument(lang string, internal bool, terms string) document {
	var d document
	switch docField(lang, internal) {
	case "es_public":
		d.EsPublic = terms
	case "es_internal":
		d.EsInternal = terms
	case "en_public":
		d.EnPublic = terms
	default:
		d.EnInternal = terms
	}
	return d
}

// Options are what an index is built with besides the articles.
type Options struct {
	// Synonyms are the author's own groups (synonyms.yaml beside the
	// articles), used with the built-in lexicon.
	Synonyms Synonyms
}

// New builds an index over entries with the built-in lexicon.
func New(entries []faq.Entry) (*Index, error) { return Open(entries, Options{}) }

// Open builds an index over entries.
func Open(entries []faq.Entry, opt Options) (*Index, error) {
	s, err := build(entries, opt)
	if err != nil {
		return nil, err
	}
	return &Index{cur: s}, nil
}

// Replace rebuilds the index from entries and swaps it in. Searches in
// flight finish on the old one. On error the old index stays.
func (x *Index) Replace(entries []faq.Entry, opt Options) error {
	s, err := build(entries, opt)
	if err != nil {
		return err
	}
	x.mu.Lock()
	old := x.cur
	x.cur = s
	x.mu.Unlock()
	// Searches hold no reference past their own call; closing an in-memory
	// scorch index only stops its goroutines.
	go old.idx.Close()
	return nil
}

// Close releases the index.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cur.idx.Close()
}

// Len returns the number of articles (id and language pairs) indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.cur.entries)
}

// Notes says which parts of the method could not be used on these articles
// and why, with what the author can do about it: for the log and `ayuda kb
// lint`. Empty when everything is in use.
func (x *Index) Notes() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(x.cur.notes)
}

// Entry returns the article id in lang, if present.
func (x *Index) Entry(id, lang string) (faq.Entry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	a, ok := x.cur.entries[id+"/"+lang]
	if !ok {
		return faq.Entry{}, false
	}
	return a.entry, true
}

// Entries returns every indexed entry, sorted by id and language.
func (x *Index) Entries() []faq.Entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]faq.Entry, 0, len(x.cur.entries))
	for _, a := range x.cur.entries {
		out = append(out, a.entry)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// termsAnalyzer is the Bleve analyzer of the document fields: they hold
// terms already analysed, so it only splits them at spaces.
const termsAnalyzer = "ayuda_terms"

func newMapping() (mapping.IndexMapping, error) {
	im := bleve.NewIndexMapping()
	if err := im.AddCustomAnalyzer(termsAnalyzer, map[string]any{"type": custom.Name, "tokenizer": whitespace.Name}); err != nil {
		return nil, err
	}
	text := bleve.NewTextFieldMapping()
	text.Analyzer = termsAnalyzer
	text.Store = false
	text.IncludeTermVectors = false
	text.IncludeInAll = false
	text.DocValues = false
	dm := bleve.NewDocumentMapping()
	for _, lang := range faq.Languages {
		for _, internal := range []bool{false, true} {
			dm.AddFieldMappingsAt(docField(lang, internal), text)
		}
	}
	im.AddDocumentMapping("article", dm)
	im.DefaultMapping.Enabled = false
	im.ScoringModel = index.BM25Scoring
	return im, nil
}

func build(entries []faq.Entry, opt Options) (*snapshot, error) {
	im, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("knowledge: mapping: %w", err)
	}
	groups, err := BuiltinLexicon()
	if err != nil {
		return nil, err
	}
	groups = append(slices.Clip(groups), opt.Synonyms...)
	idx, err := bleve.NewUsing("", im, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("knowledge: new index: %w", err)
	}
	s := &snapshot{
		idx:        idx,
		entries:    make(map[string]*article, len(entries)),
		lex:        map[string]*lexLang{},
		perArticle: map[string]float64{},
		internal:   map[string][]string{},
	}
	for _, lang := range faq.Languages {
		an := newTextAnalyzer(lang)
		s.lex[lang] = newLexLang(an, newLexicon(an, groups))
		if lang == "es" {
			s.lex[lang].sounds = map[string][]string{}
		}
		s.lex[lang].analyzeAll(entries, lang)
	}
	b := idx.NewBatch()
	var outOfScope []faq.Entry
	examples := map[string]int{}
	for _, e := range entries {
		l, ok := s.lex[e.Lang]
		if !ok {
			idx.Close()
			return nil, fmt.Errorf("knowledge: %s: unsupported language %q", e.Source, e.Lang)
		}
		if e.IsOutOfScope() {
			outOfScope = append(outOfScope, e)
			continue
		}
		s.entries[e.Key()] = &article{entry: e}
		if e.IsInternal() {
			s.internal[e.Lang] = append(s.internal[e.Lang], e.Key())
		}
		l.add(e)
		examples[e.Lang] += 1 + len(e.Questions)
		join := func(texts ...string) string {
			var out []string
			for _, t := range texts {
				out = append(out, l.textTerms(t)...)
			}
			return strings.Join(out, " ")
		}
		tq := join(append([]string{e.Title}, e.Questions...)...)
		doc := newDocument(e.Lang, e.IsInternal(), strings.Join([]string{tq, tq, join(e.Tags...), join(e.Body)}, " "))
		if err := b.Index(e.Key(), doc); err != nil {
			idx.Close()
			return nil, fmt.Errorf("knowledge: index %s: %w", e.Source, err)
		}
		if b.Size() >= 1000 {
			if err := idx.Batch(b); err != nil {
				idx.Close()
				return nil, fmt.Errorf("knowledge: index batch: %w", err)
			}
			b.Reset()
		}
	}
	if err := idx.Batch(b); err != nil {
		idx.Close()
		return nil, fmt.Errorf("knowledge: index batch: %w", err)
	}
	for lang, l := range s.lex {
		l.finish()
		if l.n > 0 {
			s.perArticle[lang] = float64(examples[lang]) / float64(l.n)
		}
	}
	s.models, s.notes = s.train(outOfScope, defaultTraining)
	for _, l := range s.lex {
		l.memo = nil // searches must not grow it, nor race on it
	}
	return s, nil
}

// train builds each language's classifier from the articles' titles and
// example questions, with the out-of-scope examples as one more class. It
// also returns a note for each language that gets no classifier.
func (s *snapshot) train(outOfScope []faq.Entry, opt trainOptions) (map[string]*model, []string) {
	keys := make([]string, 0, len(s.entries))
	for k := range s.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same articles in any order train the same model
	byLang := map[string]*model{}
	examples := map[string][][]string{}
	labels := map[string][]int{}
	trainOnly := map[string][]bool{}
	// A language whose model would be too large is not trained at all:
	// features are counted as they are made, and making them stops there.
	classes := map[string]int{}
	for _, k := range keys {
		classes[s.entries[k].entry.Lang]++
	}
	seenFeatures := map[string]map[string]struct{}{}
	own := map[string]map[string]struct{}{} // the features of a language's own examples
	tooLarge := map[string]bool{}
	add := func(lang, key string, texts []string, only bool) {
		if tooLarge[lang] {
			return
		}
		m := byLang[lang]
		if m == nil {
			m = &model{class: map[string]int{}}
			byLang[lang] = m
		}
		c := slices.Index(m.classes, key)
		if c < 0 {
			c = len(m.classes)
			m.classes = append(m.classes, key)
			m.class[key] = c
		}
		seen := seenFeatures[lang]
		if seen == nil {
			seen = map[string]struct{}{}
			seenFeatures[lang] = seen
		}
		for _, text := range texts {
			fs := features(text, s.lex[lang].textTerms(text))
			if only && own[lang] != nil {
				// Another language's question teaches the out-of-scope
				// class only what this language's articles do not say:
				// shared product names ("Premium", "Zenit", "app") would
				// otherwise count against this language's own articles.
				fs = slices.DeleteFunc(fs, func(f string) bool { _, ok := own[lang][f]; return ok })
			}
			if len(fs) == 0 {
				continue
			}
			for _, f := range fs {
				seen[f] = struct{}{}
			}
			if len(seen)*(classes[lang]+1) > opt.MaxWeight {
				tooLarge[lang] = true
				return
			}
			examples[lang] = append(examples[lang], fs)
			labels[lang] = append(labels[lang], c)
			trainOnly[lang] = append(trainOnly[lang], only)
		}
	}
	for _, k := range keys {
		e := s.entries[k].entry
		add(e.Lang, k, append([]string{e.Title}, e.Questions...), false)
	}
	for _, e := range outOfScope {
		if byLang[e.Lang] != nil { // out-of-scope examples alone teach nothing
			add(e.Lang, "", e.Questions, false)
		}
	}
	// A question in another language is out of scope too: without these,
	// letter pieces make "how tall is it" look like Spanish "talla".
	for lang, seen := range seenFeatures {
		own[lang] = maps.Clone(seen)
	}
	for lang := range byLang {
		for _, k := range keys {
			if e := s.entries[k].entry; e.Lang != lang {
				add(lang, "", append([]string{e.Title}, e.Questions...), true)
			}
		}
	}
	seenFeatures, own = nil, nil
	out := map[string]*model{}
	var notes []string
	for _, lang := range faq.Languages {
		m := byLang[lang]
		if m == nil {
			continue
		}
		reject := slices.Index(m.classes, "")
		articles := len(m.classes)
		if reject >= 0 {
			articles--
		}
		if tooLarge[lang] {
			articles = classes[lang]
			notes = append(notes, fmt.Sprintf("%s: the question classifier was not trained: %d articles would need more than %d MB of weights; answers come from the words each article's title, questions and body share with the question (fewer articles per language bring it back)", lang, articles, 4*opt.MaxWeight>>20))
			continue
		}
		if articles < 2 {
			notes = append(notes, fmt.Sprintf("%s: only %d article, so there is nothing to tell apart: answers come from matching words alone", lang, articles))
			continue
		}
		var stats trainStats
		ex := examples[lang]
		delete(examples, lang) // its feature strings can go once trainClassifier has vectorized them
		m.clf = trainClassifier(ex, labels[lang], trainOnly[lang], len(m.classes), reject, opt, &stats)
		if m.clf == nil {
			notes = append(notes, fmt.Sprintf("%s: the question classifier was not trained: %d articles × %d features would need %d MB; answers come from matching words alone (quality drops on large knowledge bases; fewer articles per language, or shorter example questions, bring it back)", lang, articles, stats.features, 4*stats.features*len(m.classes)>>20))
			continue
		}
		if !stats.calibrated {
			notes = append(notes, fmt.Sprintf("%s: too few example questions to calibrate the classifier on held-out ones (%d per article; 5 or more calibrate it): confidence comes from how well the words of each article match", lang, int(s.perArticle[lang])))
		}
		m.calibrated = stats.calibrated
		out[lang] = m
	}
	return out, notes
}
