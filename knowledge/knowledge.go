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
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/whitespace"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
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
	notes      []string
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
	}
	for _, lang := range faq.Languages {
		an := newTextAnalyzer(lang)
		s.lex[lang] = newLexLang(an, newLexicon(an, groups))
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
	for lang := range byLang {
		for _, k := range keys {
			if e := s.entries[k].entry; e.Lang != lang {
				add(lang, "", append([]string{e.Title}, e.Questions...), true)
			}
		}
	}
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
		m.clf = trainClassifier(examples[lang], labels[lang], trainOnly[lang], len(m.classes), reject, opt, &stats)
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

// ErrEmpty is returned for a query with no text.
var ErrEmpty = errors.New("knowledge: empty question")

// Search returns up to q.Limit articles for q, best first. No match is an
// empty slice, not an error. The text is only ever analysed as words: no
// query syntax of Bleve's is interpreted.
func (x *Index) Search(ctx context.Context, q Query) ([]Hit, error) {
	q.Text = searchable(q.Text)
	if q.Text == "" {
		return nil, ErrEmpty
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.RLock()
	s := x.cur
	x.mu.RUnlock()
	limit := q.Limit
	if limit <= 0 {
		limit = 5
	}
	langs := []string{q.Lang}
	if q.Lang == "" {
		langs = faq.Languages
	}
	// A long message is searched whole and part by part: the question may
	// be one sentence in a story, and one message may ask two things. Each
	// article keeps its best part, and says which part that was.
	parts := segments(q.Text)
	var hits []Hit
	for _, lang := range langs {
		if _, ok := s.lex[lang]; !ok {
			return nil, fmt.Errorf("knowledge: unsupported language %q", lang)
		}
		best := map[string]int{}
		whole := 0.0
		for pi, part := range parts {
			pq := q
			pq.Text = part
			h, err := s.search(ctx, pq, lang)
			if err != nil {
				return nil, err
			}
			for _, hit := range h {
				if pi == 0 {
					whole = max(whole, hit.Confidence)
				}
				clear := pi > 0 && whole >= partsBelow
				if pi > 0 {
					// A part says less than the whole message: what it
					// matches is a little less likely to be the answer.
					hit.Confidence *= partCredit
					hit.Part = part
				}
				if clear {
					// The whole is clear: its parts may add what else the
					// message asks (a second question), never outrank it.
					hit.Confidence = min(hit.Confidence, whole-0.01)
				}
				if i, ok := best[hit.ID]; ok {
					if hit.Confidence > hits[i].Confidence {
						hits[i] = hit
					}
					continue
				}
				best[hit.ID] = len(hits)
				hits = append(hits, hit)
			}
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Confidence != hits[j].Confidence {
			return hits[i].Confidence > hits[j].Confidence
		}
		return hits[i].Score > hits[j].Score
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

// partsBelow is the confidence under which what a long message's parts
// match may outrank what the whole matches: above it, parts only add the
// articles of other questions the message asks.
const partsBelow = 0.5

// minPart is the fewest words a part of a message has: a shorter one
// matches some article too easily.
const minPart = 5

// partCredit scales the confidence of what one part of a message matches.
const partCredit = 0.7

// segments returns the text and, when it is long enough to hold more than
// one sentence or question, each of its parts: sentences, and clauses
// joined by "y", "pero", "and", "but", "also" and the like.
func segments(text string) []string {
	out := []string{text}
	if len(strings.Fields(text)) < 8 {
		return out
	}
	var parts []string
	cur := []string{}
	flush := func() {
		if len(cur) >= minPart {
			parts = append(parts, strings.Join(cur, " "))
		}
		cur = cur[:0]
	}
	for _, w := range strings.Fields(text) {
		lw := strings.ToLower(strings.Trim(w, ",;:"))
		if splitters[lw] && len(cur) >= minPart {
			flush()
			continue
		}
		cur = append(cur, w)
		if strings.ContainsAny(w[len(w)-1:], ".?!;") || strings.HasSuffix(w, ",") && len(cur) >= 6 {
			flush()
		}
	}
	flush()
	if len(parts) < 2 {
		return out
	}
	return append(out, parts...)
}

// splitters are the words that start another clause of a message.
var splitters = map[string]bool{"pero": true, "aunque": true, "ademas": true, "además": true, "tambien": true, "también": true, "but": true, "also": true, "although": true, "otra": true}

// Bounds on what of a question is searched: no word is longer than
// maxWord (a longer "word" is noise), and a question is its first
// maxWords words.
const (
	maxWord  = 40
	maxWords = 64
)

// searchable returns the part of text worth searching.
func searchable(text string) string {
	words := strings.Fields(text)
	out := words[:0]
	for _, w := range words {
		if len([]rune(w)) <= maxWord {
			out = append(out, w)
		}
		if len(out) == maxWords {
			break
		}
	}
	return strings.Join(out, " ")
}

// commonDF: a term in more articles than this (or a twentieth of them)
// is not searched with Bleve on its own.
const commonDF = 50

// candidates is how many Bleve hits are scored per language.
const candidates = 30

// search finds candidates with Bleve and the classifier, and gives each
// its probability of being the answer (decision.go).
func (s *snapshot) search(ctx context.Context, q Query, lang string) ([]Hit, error) {
	cs, xs, err := s.candidates(ctx, q, lang)
	if err != nil {
		return nil, err
	}
	decide(cs, xs, s.blend(lang), s.rel(lang))
	hits := make([]Hit, 0, len(cs))
	for _, c := range cs {
		a := s.entries[c.key]
		hits = append(hits, Hit{ID: a.entry.ID, Lang: lang, Title: a.entry.Title, Score: c.score, Confidence: c.p, Example: c.lex.exampleText, Entry: a.entry})
	}
	return hits, nil
}

// candidates returns the articles that may answer q in lang, with their
// signals.
func (s *snapshot) candidates(ctx context.Context, q Query, lang string) ([]cand, []signals, error) {
	l := s.lex[lang]
	us := l.units(q.Text)
	scores := map[string]float64{}
	if len(us) > 0 {
		res, err := s.retrieve(ctx, q, lang, us)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range res.Hits {
			if _, ok := s.entries[h.ID]; ok {
				scores[h.ID] = h.Score
			}
		}
	}
	var probs []float64
	m := s.models[lang]
	if m != nil {
		probs = m.clf.probabilities(features(q.Text, l.textTerms(q.Text)))
		for _, c := range topClasses(probs, proposals) {
			key := m.classes[c]
			a, ok := s.entries[key]
			if !ok || (a.entry.IsInternal() && !q.Internal) {
				continue
			}
			if _, ok := scores[key]; !ok {
				scores[key] = 0
			}
		}
	}
	cs := make([]cand, 0, len(scores))
	qg := grams(q.Text)
	for key, score := range scores {
		c := cand{key: key, score: score, lex: l.score(us, qg, l.docs[key])}
		if m != nil {
			c.clf = probs[m.class[key]]
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].key < cs[j].key })
	var reject float64
	if m != nil && m.clf.reject >= 0 {
		reject = probs[m.clf.reject]
	}
	var total, unknown float64
	for _, u := range us {
		total += u.weight
		if !u.known {
			unknown += u.weight
		}
	}
	if total > 0 {
		unknown /= total
	} else {
		unknown = 1
	}
	return cs, s.signalsOf(cs, lang, m != nil, reject, unknown), nil
}

// rel is how much lang's knowledge base had to learn from (reliability).
func (s *snapshot) rel(lang string) float64 { return reliability(s.perArticle[lang]) }

// blend is the weight of the classifier's own probability in lang.
func (s *snapshot) blend(lang string) float64 {
	m := s.models[lang]
	if m == nil {
		return 0
	}
	return blendWeight(s.perArticle[lang], m.calibrated)
}

// retrieve asks Bleve for the articles that share a term with the
// question: each of its words, the words it may be a typo of and their
// synonyms, in the field of its language and audience.
func (s *snapshot) retrieve(ctx context.Context, q Query, lang string, us []unit) (*bleve.SearchResult, error) {
	fields := []string{docField(lang, false)}
	if q.Internal {
		fields = append(fields, docField(lang, true))
	}
	// Terms most articles have find nothing in particular and cost most
	// (their postings are long): on a large knowledge base they are left
	// to the scorer, unless the question has nothing else.
	l := s.lex[lang]
	common := max(commonDF, l.n/20)
	var terms []string
	credit := map[string]float64{} // a term's best credit among the units
	for _, u := range us {
		for _, a := range u.alts {
			if l.df[a.term] == 0 {
				continue
			}
			if _, ok := credit[a.term]; !ok {
				terms = append(terms, a.term)
			}
			credit[a.term] = max(credit[a.term], a.credit)
		}
	}
	rare := terms[:0:0]
	for _, t := range terms {
		if l.df[t] <= common {
			rare = append(rare, t)
		}
	}
	if len(rare) > 0 {
		terms = rare
	}
	var clauses []query.Query
	for _, term := range terms {
		for _, f := range fields {
			// A term query takes the term as it is: user text is never
			// parsed as query syntax (PLATFORMS.md).
			t := bleve.NewTermQuery(term)
			t.SetField(f)
			t.SetBoost(credit[term])
			clauses = append(clauses, t)
		}
	}
	if len(clauses) == 0 {
		return &bleve.SearchResult{}, nil
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDisjunctionQuery(clauses...), candidates, 0, false)
	res, err := s.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("knowledge: search: %w", err)
	}
	return res, nil
}

// proposals is how many of the classifier's best articles join Bleve's
// candidates.
const proposals = 3

// topClasses returns the indexes of the n largest values, largest first.
func topClasses(v []float64, n int) []int {
	var out []int
	for len(out) < n && len(out) < len(v) {
		top := -1
		for i, x := range v {
			if !slices.Contains(out, i) && (top < 0 || x > v[top]) {
				top = i
			}
		}
		out = append(out, top)
	}
	return out
}

// OneEdit reports whether a and b differ by exactly one insertion, deletion,
// substitution or adjacent transposition.
func OneEdit(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	la, lb := len(ra), len(rb)
	if la-lb > 1 || lb-la > 1 {
		return false
	}
	i := 0
	for i < la && i < lb && ra[i] == rb[i] {
		i++
	}
	if i == la && i == lb {
		return false
	}
	switch {
	case la == lb:
		if string(ra[i+1:]) == string(rb[i+1:]) {
			return true
		}
		return i+1 < la && ra[i] == rb[i+1] && ra[i+1] == rb[i] && string(ra[i+2:]) == string(rb[i+2:])
	case la > lb:
		return string(ra[i+1:]) == string(rb[i:])
	default:
		return string(ra[i:]) == string(rb[i+1:])
	}
}
