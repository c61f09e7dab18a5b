// Package knowledge indexes faq entries with Bleve and answers questions
// with scored hits.
//
// Search runs in two stages. Bleve finds candidates: a match query over the
// title, example questions and body, analysed with the article language's
// analyzer, typo tolerant, and filtered by language and audience. The
// candidates are then scored by a classifier trained when the index is
// built, one per language: a multinomial logistic regression over the
// words, word pairs and letter pieces of every article's title and example
// questions (classifier.go), whose articles with the best probability join
// Bleve's candidates. A hit's Confidence is that probability, calibrated on
// held-out example questions so that 0.6 means about 60% of such answers
// are right, for a knowledge base of 10 articles or of 500. Out-of-scope
// examples (the faq.OutOfScope article) are a class of their own: a
// question like them takes probability away from every article.
//
// Each candidate is also compared with every one of its example questions
// and its title (an IDF-weighted cosine between analysed words, where a
// word one typo away counts almost as much): that gives the Example that
// matched, and it is the Confidence itself when there is no classifier
// (fewer than two classes in a language, or a knowledge base too large
// for one; see trainOptions.MaxWeight).
//
// An Index is safe for concurrent use. Replace swaps in a new set of
// entries atomically, for hot reload.
package knowledge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"ayuda/faq"
)

// analyzers maps an article language to the Bleve analyzer for it.
var analyzers = map[string]string{"es": es.AnalyzerName, "en": en.AnalyzerName}

// Hit is one article that matches a question.
type Hit struct {
	ID    string `json:"id"`
	Lang  string `json:"lang"`
	Title string `json:"title"`
	// Score is Bleve's raw score, comparable only within one query; 0 for
	// an article only the classifier proposed.
	Score float64 `json:"score"`
	// Confidence in [0,1]: the calibrated probability that the article is
	// the answer (see the package comment). Comparable between queries and
	// between knowledge bases.
	Confidence float64 `json:"confidence"`
	// Example is the title or example question that matched best.
	Example string    `json:"example,omitempty"`
	Entry   faq.Entry `json:"-"`
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
	idx      bleve.Index
	entries  map[string]*article // by faq.Entry.Key()
	idf      map[string]map[string]float64
	unseen   map[string]float64 // idf given to words no article uses, per language
	analyzer map[string]analysis.Analyzer
	models   map[string]*model // per language; nil or absent: cosine only
}

// model is one language's classifier and what its classes are.
type model struct {
	clf     *classifier
	classes []string       // article key per class; "" for out of scope
	class   map[string]int // article key (or "") → class
}

type article struct {
	entry    faq.Entry
	examples []example
	body     map[string]bool
}

type example struct {
	text  string
	terms []string // distinct analysed terms
	norm  float64  // sqrt of the sum of idf² of terms
}

// document is what Bleve stores for an article in one language.
type document struct {
	Lang      string `json:"lang"`
	Audience  string `json:"audience"`
	Title     string `json:"title"`
	Questions string `json:"questions"`
	Body      string `json:"body"`
}

// BleveType makes Bleve pick the document mapping of the article's language
// (Bleve looks the type field up by Go name, not JSON tag; PLATFORMS.md).
func (d document) BleveType() string { return d.Lang }

// New builds an index over entries.
func New(entries []faq.Entry) (*Index, error) {
	s, err := build(entries)
	if err != nil {
		return nil, err
	}
	return &Index{cur: s}, nil
}

// Replace rebuilds the index from entries and swaps it in. Searches in
// flight finish on the old one. On error the old index stays.
func (x *Index) Replace(entries []faq.Entry) error {
	s, err := build(entries)
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

func newMapping() mapping.IndexMapping {
	im := bleve.NewIndexMapping()
	keyword := bleve.NewKeywordFieldMapping()
	for lang, an := range analyzers {
		text := bleve.NewTextFieldMapping()
		text.Analyzer = an
		text.Store = false
		text.IncludeTermVectors = false
		dm := bleve.NewDocumentMapping()
		dm.AddFieldMappingsAt("title", text)
		dm.AddFieldMappingsAt("questions", text)
		dm.AddFieldMappingsAt("body", text)
		dm.AddFieldMappingsAt("lang", keyword)
		dm.AddFieldMappingsAt("audience", keyword)
		im.AddDocumentMapping(lang, dm)
	}
	im.DefaultMapping.Enabled = false
	im.ScoringModel = index.BM25Scoring
	return im
}

func build(entries []faq.Entry) (*snapshot, error) {
	im := newMapping()
	idx, err := bleve.NewUsing("", im, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("knowledge: new index: %w", err)
	}
	s := &snapshot{
		idx:      idx,
		entries:  make(map[string]*article, len(entries)),
		idf:      map[string]map[string]float64{},
		unseen:   map[string]float64{},
		analyzer: map[string]analysis.Analyzer{},
	}
	for lang, name := range analyzers {
		a := im.AnalyzerNamed(name)
		if a == nil {
			idx.Close()
			return nil, fmt.Errorf("knowledge: analyzer %q is not registered", name)
		}
		s.analyzer[lang] = a
	}
	b := idx.NewBatch()
	df := map[string]map[string]int{}
	perLang := map[string]int{}
	var outOfScope []faq.Entry
	for _, e := range entries {
		an, ok := s.analyzer[e.Lang]
		if !ok {
			idx.Close()
			return nil, fmt.Errorf("knowledge: %s: unsupported language %q", e.Source, e.Lang)
		}
		if e.IsOutOfScope() {
			outOfScope = append(outOfScope, e)
			continue
		}
		a := &article{entry: e, body: map[string]bool{}}
		seen := map[string]bool{}
		for _, text := range append([]string{e.Title}, e.Questions...) {
			terms := analyze(an, text)
			if len(terms) == 0 {
				continue
			}
			a.examples = append(a.examples, example{text: text, terms: terms})
			for _, t := range terms {
				seen[t] = true
			}
		}
		for _, t := range analyze(an, e.Body) {
			a.body[t] = true
		}
		if df[e.Lang] == nil {
			df[e.Lang] = map[string]int{}
		}
		for t := range seen {
			df[e.Lang][t]++
		}
		perLang[e.Lang]++
		s.entries[e.Key()] = a
		doc := document{Lang: e.Lang, Audience: e.Audience, Title: e.Title, Questions: strings.Join(e.Questions, "\n"), Body: e.Body}
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
	for lang, counts := range df {
		n := float64(perLang[lang])
		m := make(map[string]float64, len(counts))
		for t, c := range counts {
			m[t] = math.Log(1 + n/float64(c))
		}
		s.idf[lang] = m
		// A word no article uses weighs as much as the rarest one: it is
		// part of the question the articles do not explain.
		s.unseen[lang] = math.Log(1 + n)
	}
	for _, a := range s.entries {
		for i := range a.examples {
			ex := &a.examples[i]
			var sum float64
			for _, t := range ex.terms {
				w := s.weight(a.entry.Lang, t)
				sum += w * w
			}
			ex.norm = math.Sqrt(sum)
		}
	}
	s.models = s.train(outOfScope, defaultTraining)
	return s, nil
}

// train builds each language's classifier from the articles' titles and
// example questions, with the out-of-scope examples as one more class.
func (s *snapshot) train(outOfScope []faq.Entry, opt trainOptions) map[string]*model {
	keys := make([]string, 0, len(s.entries))
	for k := range s.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same articles in any order train the same model
	byLang := map[string]*model{}
	examples := map[string][][]string{}
	labels := map[string][]int{}
	trainOnly := map[string][]bool{}
	add := func(lang, key string, texts []string, only bool) {
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
		for _, text := range texts {
			fs := features(text, analyze(s.analyzer[lang], text))
			if len(fs) == 0 {
				continue
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
	for lang, m := range byLang {
		reject := slices.Index(m.classes, "")
		m.clf = trainClassifier(examples[lang], labels[lang], trainOnly[lang], len(m.classes), reject, opt)
		if m.clf != nil {
			out[lang] = m
		}
	}
	return out
}

// weight is a term's IDF in lang; words no article uses weigh most.
func (s *snapshot) weight(lang, term string) float64 {
	if w, ok := s.idf[lang][term]; ok {
		return w
	}
	if w, ok := s.unseen[lang]; ok {
		return w
	}
	return 1
}

// analyze returns the distinct analysed terms of text, in order.
func analyze(a analysis.Analyzer, text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, tok := range a.Analyze([]byte(text)) {
		t := string(tok.Term)
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
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
	var hits []Hit
	for _, lang := range langs {
		an, ok := analyzers[lang]
		if !ok {
			return nil, fmt.Errorf("knowledge: unsupported language %q", lang)
		}
		h, err := s.search(ctx, q, lang, an, limit)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h...)
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

// Bounds on what of a question is searched: no word is longer than
// maxWord (a longer "word" is noise, and would blow up the typo automaton),
// and a question is its first maxWords words.
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

// candidates is how many Bleve hits are re-scored per language.
const candidates = 20

// wideBelow is the confidence under which a search also looks at the
// answers' text and at words one typo away: a second, slower pass that
// only questions without a close example need.
const wideBelow = 0.5

func (s *snapshot) search(ctx context.Context, q Query, lang, analyzer string, limit int) ([]Hit, error) {
	qterms := analyze(s.analyzer[lang], q.Text)
	hits, err := s.pass(ctx, q, lang, analyzer, limit, qterms, false)
	if err != nil {
		return nil, err
	}
	if len(hits) == 0 || best(hits) < wideBelow {
		wide, err := s.pass(ctx, q, lang, analyzer, limit, qterms, true)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, h := range hits {
			seen[h.ID] = true
		}
		for _, h := range wide {
			if !seen[h.ID] {
				hits = append(hits, h)
			}
		}
	}
	return s.classify(q, lang, qterms, hits), nil
}

// classify replaces the candidates' confidence with the classifier's
// calibrated probability, and adds the classifier's best articles that
// Bleve did not find: it recognises questions that share letter pieces and
// word pairs, not whole words, with the examples. Bleve stays the first
// stage; the classifier's proposals also answer the questions Bleve
// cannot search: those made only of common words ("who are you?"), which
// the analyzer reduces to nothing.
func (s *snapshot) classify(q Query, lang string, qterms []string, hits []Hit) []Hit {
	m := s.models[lang]
	if m == nil {
		return hits
	}
	probs := m.clf.probabilities(features(q.Text, qterms))
	seen := make(map[string]bool, len(hits))
	for i := range hits {
		key := hits[i].Entry.Key()
		seen[key] = true
		hits[i].Confidence = probs[m.class[key]]
	}
	for _, c := range topClasses(probs, proposals) {
		key := m.classes[c]
		a, ok := s.entries[key]
		if !ok || seen[key] || (a.entry.IsInternal() && !q.Internal) {
			continue
		}
		_, ex := s.confidence(lang, qterms, a)
		hits = append(hits, Hit{ID: a.entry.ID, Lang: lang, Title: a.entry.Title, Confidence: probs[c], Example: ex, Entry: a.entry})
	}
	return hits
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

func best(hits []Hit) float64 {
	b := 0.0
	for _, h := range hits {
		b = max(b, h.Confidence)
	}
	return b
}

// pass asks Bleve for candidates and re-scores them. The narrow pass
// matches exact words in titles and example questions; the wide one adds
// the answers' text and typo-tolerant matches, which weigh little so they
// find "pasword" without flooding the candidates with every word one
// letter away.
func (s *snapshot) pass(ctx context.Context, q Query, lang, analyzer string, limit int, qterms []string, wide bool) ([]Hit, error) {
	// A match query never parses the text as syntax (PLATFORMS.md, "Safe
	// query for raw user text").
	field := func(name string, boost float64, fuzzy bool) query.Query {
		m := bleve.NewMatchQuery(q.Text)
		m.SetField(name)
		m.Analyzer = analyzer
		if fuzzy {
			m.SetFuzziness(1)
		}
		m.SetBoost(boost)
		return m
	}
	clauses := []query.Query{field("title", 3, false), field("questions", 2, false)}
	if wide {
		clauses = append(clauses, field("body", 1, false), field("title", 0.3, true), field("questions", 0.3, true))
	}
	langQ := bleve.NewTermQuery(lang)
	langQ.SetField("lang")
	must := []query.Query{bleve.NewDisjunctionQuery(clauses...), langQ}
	if !q.Internal {
		aud := bleve.NewTermQuery(faq.Public)
		aud.SetField("audience")
		must = append(must, aud)
	}
	n := max(candidates, limit)
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(must...), n, 0, false)
	res, err := s.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("knowledge: search: %w", err)
	}
	hits := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		a, ok := s.entries[h.ID]
		if !ok {
			continue
		}
		conf, ex := s.confidence(lang, qterms, a)
		hits = append(hits, Hit{ID: a.entry.ID, Lang: lang, Title: a.entry.Title, Score: h.Score, Confidence: conf, Example: ex, Entry: a.entry})
	}
	return hits, nil
}

// fuzzyCredit is how much a word one typo away counts, against 1 for an
// exact match.
const fuzzyCredit = 0.8

// bodyCredit scales how much of the question the answer text covers: the
// body is weaker evidence than a title or an example question.
const bodyCredit = 0.35

// confidence scores the question's terms against the article's examples.
func (s *snapshot) confidence(lang string, qterms []string, a *article) (float64, string) {
	if len(qterms) == 0 {
		return 0, ""
	}
	var qnorm float64
	weights := make([]float64, len(qterms))
	for i, t := range qterms {
		w := s.weight(lang, t)
		weights[i] = w
		qnorm += w * w
	}
	qnorm = math.Sqrt(qnorm)
	known := make([]bool, len(qterms))
	for i, t := range qterms {
		_, known[i] = s.idf[lang][t]
	}
	best, bestText := 0.0, ""
	for _, ex := range a.examples {
		if ex.norm == 0 {
			continue
		}
		var dot float64
		for i, t := range qterms {
			if c := credit(t, ex.terms, known[i]); c > 0 {
				w := weights[i]
				dot += c * w * w
			}
		}
		if cos := dot / (qnorm * ex.norm); cos > best {
			best, bestText = cos, ex.text
		}
	}
	// How much of the question the body covers, for articles whose examples
	// miss words the body has.
	var covered float64
	for i, t := range qterms {
		if a.body[t] {
			covered += weights[i] * weights[i]
		}
	}
	if c := bodyCredit * covered / (qnorm * qnorm); c > best {
		best, bestText = c, ""
	}
	if best > 1 {
		best = 1
	}
	return best, bestText
}

// credit is 1 when term is among terms, fuzzyCredit when a term there is
// one edit away (for words long enough that one edit is a typo, not
// another word, and only when the word is not one the articles use:
// "cuesta" is not a typo of "cuenta"), and 0 otherwise.
func credit(term string, terms []string, known bool) float64 {
	for _, t := range terms {
		if t == term {
			return 1
		}
	}
	if known || len(term) < 5 {
		return 0
	}
	for _, t := range terms {
		if len(t) >= 4 && oneEdit(term, t) {
			return fuzzyCredit
		}
	}
	return 0
}

// oneEdit reports whether a and b differ by exactly one insertion, deletion,
// substitution or adjacent transposition.
func oneEdit(a, b string) bool {
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
