package knowledge

// Searching: a question split into its parts, candidates from Bleve and
// the lexical scorer, and the decision's probability for each.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"ayuda/faq"
)

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
	// What a customer cannot be answered from counts against every
	// candidate: the out-of-scope examples, and for a customer's question
	// the internal articles (a question only an internal article answers,
	// "what reason code do you enter for a refund", must not get the
	// public article closest to it).
	var reject float64
	if m != nil && m.clf.reject >= 0 {
		reject = probs[m.clf.reject]
	}
	if m != nil && !q.Internal {
		for _, key := range s.internal[lang] {
			if c, ok := m.class[key]; ok {
				reject = max(reject, probs[c])
			}
		}
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
