package knowledge

import (
	"hash/fnv"
	"iter"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"ayuda/faq"
)

// The lexical scorer compares a question with everything an author wrote
// for an article (title, example questions, tags and body), on stems, the
// lexicon's concepts and typo-corrected words. It needs no examples to
// learn from, so it is what answers on a knowledge base of a few articles
// with three example questions each; on larger ones it is one of the
// signals the decision weighs (decision.go).

// Fields of an article, and how much a word found in each counts: a word
// of the title or an example question says the article is about it; one
// only in the body, less.
const (
	fTitle = iota
	fQuestions
	fTags
	fBody
	nFields
)

var fieldWeight = [nFields]float64{fTitle: 1, fQuestions: 1, fTags: 0.8, fBody: 0.55}

// Credits of a match that is not the word itself.
const (
	conceptCredit = 0.85 // a synonym from the lexicon
	typoCredit    = 0.8  // a word one edit away from one the articles use
)

// lexLang is one language's lexical model.
type lexLang struct {
	an      *textAnalyzer
	lex     *lexicon
	docs    map[string]*lexDoc // by article key
	df      map[string]int     // term → articles that have it
	n       int                // articles
	vocab   map[string]int     // folded word → articles that use it
	deletes map[string][]string
	// sounds maps the Spanish spelling-by-ear key of each word (soundKey)
	// to the words that have it; nil for other languages.
	sounds map[string][]string
	maxIDF float64
	// memo holds the terms of the texts seen while the index is built,
	// which are analysed several times (fields, examples, Bleve, the
	// classifier); nil once it is built.
	memo map[string][]string
}

// lexDoc is one article as the lexical scorer sees it.
type lexDoc struct {
	fields   [nFields]map[string]bool
	examples []lexExample // title and example questions
	title    map[string]bool
	grams    gramSet            // letter 4-grams of the title and example questions
	allGrams gramSet            // and of the tags and body too
	byTerm   map[string][]int32 // term → the examples that have it
}

type lexExample struct {
	text  string
	terms map[string]bool
	norm  float64 // sqrt of the sum of idf² of its terms
}

// unit is one word of a question and what may stand for it in an article.
type unit struct {
	alts   []alt
	weight float64 // idf of what it asks for; unknown words weigh most
	known  bool    // some alternative is in the articles
}

// has reports whether term stands for the unit.
func (u unit) has(term string) bool {
	for _, a := range u.alts {
		if a.term == term {
			return true
		}
	}
	return false
}

type alt struct {
	term   string
	credit float64
}

func newLexLang(an *textAnalyzer, lex *lexicon) *lexLang {
	return &lexLang{an: an, lex: lex, docs: map[string]*lexDoc{}, df: map[string]int{}, vocab: map[string]int{}, deletes: map[string][]string{}, memo: map[string][]string{}}
}

// add indexes one article.
func (l *lexLang) add(e faq.Entry) {
	d := &lexDoc{}
	texts := [nFields][]string{fTitle: {e.Title}, fQuestions: e.Questions, fTags: e.Tags, fBody: {e.Body}}
	seen := map[string]bool{}
	words := map[string]bool{}
	for f, ts := range texts {
		d.fields[f] = map[string]bool{}
		for _, text := range ts {
			for _, t := range l.textTerms(text) {
				d.fields[f][t] = true
				seen[t] = true
			}
			for _, w := range wordsOf(text) {
				words[w] = true
			}
		}
	}
	d.title = map[string]bool{}
	for _, t := range l.an.terms(e.Title) {
		d.title[t] = true
	}
	var qgrams, allGrams []uint64
	for _, text := range append(append([]string{e.Body}, e.Tags...), e.Title) {
		allGrams = append(allGrams, grams(text)...)
	}
	for _, text := range append([]string{e.Title}, e.Questions...) {
		qgrams = append(qgrams, grams(text)...)
	}
	d.grams = newGramSet(qgrams)
	d.allGrams = newGramSet(append(allGrams, qgrams...))
	for _, text := range append([]string{e.Title}, e.Questions...) {
		ex := lexExample{text: text, terms: map[string]bool{}}
		for _, t := range l.textTerms(text) {
			ex.terms[t] = true
		}
		if len(ex.terms) > 0 {
			d.examples = append(d.examples, ex)
		}
	}
	d.byTerm = map[string][]int32{}
	for i, ex := range d.examples {
		for t := range ex.terms {
			d.byTerm[t] = append(d.byTerm[t], int32(i))
		}
	}
	for t := range seen {
		l.df[t]++
	}
	for w := range words {
		l.vocab[w]++
	}
	l.n++
	l.docs[e.Key()] = d
}

func wordsOf(text string) []string { return words(fold(text)) }

// finish computes what depends on every article: idf, example norms and
// the typo index.
func (l *lexLang) finish() {
	l.maxIDF = math.Log(1 + float64(l.n))
	for _, d := range l.docs {
		for i := range d.examples {
			var s float64
			for t := range d.examples[i].terms {
				w := l.idf(t)
				s += w * w
			}
			d.examples[i].norm = math.Sqrt(s)
		}
	}
	// The lexicon's words are words too: "desapuntarme" with a typo is
	// still a synonym of "baja".
	for w := range l.lex.words {
		if _, ok := l.vocab[w]; !ok {
			l.vocab[w] = 0
		}
	}
	if l.sounds != nil {
		for w := range l.vocab {
			if len([]rune(w)) >= 4 {
				k := soundKey(w)
				l.sounds[k] = append(l.sounds[k], w)
			}
		}
	}
	// correct looks at words of six letters or more, so only words of
	// five or more can be one edit from them.
	for w := range l.vocab {
		if len([]rune(w)) < 5 {
			continue
		}
		for _, d := range deletions(w) {
			l.deletes[d] = append(l.deletes[d], w)
		}
	}
}

// idf of a term; a term no article has weighs most.
func (l *lexLang) idf(t string) float64 {
	df := l.df[t]
	if df == 0 {
		return l.maxIDF
	}
	return math.Log(1 + float64(l.n)/float64(df))
}

// textTerms are a text's stems followed by its lexicon concepts.
func (l *lexLang) textTerms(text string) []string {
	if t, ok := l.memo[text]; ok {
		return t
	}
	t := l.analyze(text)
	if l.memo != nil {
		l.memo[text] = t
	}
	return t
}

// analyze returns a text's stems followed by its lexicon concepts; it
// only reads the analyzer and the lexicon, so it is safe on every core.
func (l *lexLang) analyze(text string) []string {
	stems := l.an.terms(text)
	return append(stems, l.lex.concepts(stems)...)
}

// analyzeAll fills the memo with the terms of every text of entries (in
// l's language), on every core: analysis (tokenizing, stemming, the
// lexicon) is most of the work of indexing an article, each text's is
// independent of the others', and the analyzer and lexicon are only
// read. add then finds each text's terms in the memo.
func (l *lexLang) analyzeAll(entries []faq.Entry, lang string) {
	var texts []string
	for _, e := range entries {
		if e.Lang != lang || e.IsOutOfScope() {
			continue
		}
		texts = append(texts, e.Title, e.Body)
		texts = append(texts, e.Questions...)
		texts = append(texts, e.Tags...)
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(texts)/256)
	if workers < 2 {
		return // not worth a goroutine: add analyses as it goes
	}
	out := make([][]string, len(texts))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(texts); i += workers {
				out[i] = l.analyze(texts[i])
			}
		})
	}
	wg.Wait()
	for i, t := range texts {
		l.memo[t] = out[i]
	}
}

// deletions returns w with each one of its letters removed.
func deletions(w string) []string {
	r := []rune(w)
	out := make([]string, 0, len(r))
	for i := range r {
		out = append(out, string(r[:i])+string(r[i+1:]))
	}
	return out
}

// correct returns the word the articles (or the lexicon) use that w is
// one typo away from, the most used when several are, or "". Short words
// are left alone (one letter makes another word of them: "curro" and
// "curso"), and so is the first letter, which people rarely get wrong
// ("centro" is not a typo of "dentro").
func (l *lexLang) correct(w string) string {
	if l.sounds != nil && len([]rune(w)) >= 4 {
		// Written by ear: the same sounds with other letters ("varato",
		// "recivo", "limpiesa", "aser"), the first letter included.
		if best := l.mostUsed(slices.Values(l.sounds[soundKey(w)]), func(v string) bool { return v != w }); best != "" {
			return best
		}
	}
	if len([]rune(w)) < 6 {
		return ""
	}
	cands := map[string]bool{}
	for _, v := range l.deletes[w] { // w is one letter short
		cands[v] = true
	}
	for _, d := range deletions(w) {
		if _, ok := l.vocab[d]; ok { // w has one letter too many
			cands[d] = true
		}
		for _, v := range l.deletes[d] { // one letter changed or swapped
			cands[v] = true
		}
	}
	return l.mostUsed(maps.Keys(cands), func(v string) bool { return v != w && v[0] == w[0] && OneEdit(w, v) })
}

// mostUsed returns the word among words that ok accepts which the most
// articles use (the first in order on a tie), or "".
func (l *lexLang) mostUsed(words iter.Seq[string], ok func(string) bool) string {
	best, bestN := "", -1
	for v := range words {
		if !ok(v) {
			continue
		}
		if n := l.vocab[v]; n > bestN || (n == bestN && v < best) {
			best, bestN = v, n
		}
	}
	return best
}

// soundKey is how a folded Spanish word sounds, spelled one way: b and v,
// the seseo's s, z and c before e or i, silent h, ll and y, the k sound
// of c, qu and k, g before e or i and j, and doubled letters, each become
// one. Customers of Spain and Latin America write many words as they hear
// them.
func soundKey(w string) string {
	r := []rune(w)
	var b strings.Builder
	last := rune(0)
	emit := func(c rune) {
		if c != last || c == 'r' { // "pero" is not "perro"
			b.WriteRune(c)
		}
		last = c
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		next := rune(0)
		if i+1 < len(r) {
			next = r[i+1]
		}
		soft := next == 'e' || next == 'i'
		switch {
		case c == 'v' || c == 'w':
			emit('b')
		case c == 'z':
			emit('s')
		case c == 'c' && soft:
			emit('s')
		case c == 'c' && next == 'h':
			emit('C')
			i++
		case c == 'c' || c == 'k':
			emit('k')
		case c == 'q' && next == 'u':
			emit('k')
			i++
		case c == 'q':
			emit('k')
		case c == 'h':
			// silent
		case c == 'l' && next == 'l':
			emit('y')
			i++
		case c == 'y' && !strings.ContainsRune("aeiou", next):
			emit('i') // "muy", "hoy": y as a vowel
		case c == 'n' && (next == 'v' || next == 'b' || next == 'p'):
			emit('m') // "envío" sounds as "embío"
		case c == 'g' && soft:
			emit('j')
		case c == 'x' && i == 0:
			emit('s')
		default:
			emit(c)
		}
	}
	return b.String()
}

// units analyses a question: each of its words with its synonyms and, for
// a word the articles do not use, the word it is a typo of.
func (l *lexLang) units(text string) []unit {
	ws := wordsOf(text)
	var out []unit
	var stems []string
	seen := map[string]bool{}
	for _, w := range ws {
		if l.an.isStop(w) {
			continue
		}
		ts := l.an.terms(w)
		if len(ts) == 0 {
			continue
		}
		s := ts[0]
		stems = append(stems, s)
		if seen[s] {
			continue
		}
		seen[s] = true
		u := unit{alts: []alt{{s, 1}}}
		if l.df[s] == 0 && l.lex.single[s] == nil {
			if c := l.correct(w); c != "" {
				if ct := l.an.terms(c); len(ct) > 0 {
					u.alts = append(u.alts, alt{ct[0], typoCredit})
					for _, g := range l.lex.single[ct[0]] {
						u.alts = append(u.alts, alt{concept(g), typoCredit * conceptCredit})
					}
				}
			}
		}
		for _, g := range l.lex.single[s] {
			u.alts = append(u.alts, alt{concept(g), conceptCredit})
		}
		out = append(out, u)
	}
	for _, g := range l.lex.phraseConcepts(stems) {
		c := concept(g)
		if !seen[c] {
			seen[c] = true
			out = append(out, unit{alts: []alt{{c, conceptCredit}}})
		}
	}
	for i := range out {
		u := &out[i]
		for _, a := range u.alts {
			if l.df[a.term] > 0 {
				u.known = true
				u.weight = max(u.weight, a.credit*l.idf(a.term))
			}
		}
		if !u.known {
			u.weight = l.maxIDF
		}
		// A concept-only unit (a phrase) that no article has says nothing.
		if !u.known && isConcept(u.alts[0].term) {
			u.weight = 0
		}
	}
	return out
}

// lexScore is how well an article covers a question.
type lexScore struct {
	cover   float64 // share of the question's weight the article has, fields weighed
	example float64 // best cosine with one title or example question
	body    float64 // share found only in the body
	// exampleText is the title or example question that matched best.
	exampleText string
	title       float64 // share of the title's weight the question has
	grams       float64 // share of the question's letter 4-grams in the title and questions
	allGrams    float64 // in the whole article
}

// grams returns the distinct letter 4-grams of a text's words, with their
// edges ("pago" → "<pag", "pago", "ago>"), each packed in a number: four
// 16-bit letters, or a hash of the gram when a letter is past U+FFFF (so
// rare in a help centre's words that a collision would cost nothing that
// matters). Numbers make the sets of a 10,000-article index a few sorted
// slices instead of millions of small strings in maps.
func grams(text string) []uint64 {
	var out []uint64
	seen := map[uint64]bool{}
	for _, w := range wordsOf(text) {
		r := []rune("<" + w + ">")
		for i := 0; i+4 <= len(r); i++ {
			g := packGram(r[i : i+4])
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
		}
	}
	return out
}

func packGram(r []rune) uint64 {
	var g uint64
	for _, c := range r {
		if c > 0xFFFF {
			h := fnv.New64a()
			h.Write([]byte(string(r)))
			return h.Sum64() | 1<<63
		}
		g = g<<16 | uint64(c)
	}
	return g
}

// gramSet is a sorted set of packed grams.
type gramSet []uint64

func newGramSet(gs []uint64) gramSet {
	slices.Sort(gs)
	return gramSet(slices.Clip(slices.Compact(gs)))
}

func (s gramSet) has(g uint64) bool {
	_, ok := slices.BinarySearch(s, g)
	return ok
}

// score compares a question's units (and its letter 4-grams) with one
// article.
func (l *lexLang) score(us []unit, qgrams []uint64, d *lexDoc) lexScore {
	var total, got, bodyOnly float64
	for _, u := range us {
		total += u.weight
		best, inBody := 0.0, false
		for _, a := range u.alts {
			for f := range nFields {
				if d.fields[f][a.term] {
					v := fieldWeight[f] * a.credit * l.idf(a.term)
					if v > best {
						best, inBody = v, f == fBody
					}
				}
			}
		}
		got += min(best, u.weight)
		if inBody {
			bodyOnly += best
		}
	}
	var s lexScore
	if total > 0 {
		s.cover = got / total
		s.body = bodyOnly / total
	}
	if len(qgrams) > 0 {
		n, all := 0, 0
		for _, g := range qgrams {
			if d.grams.has(g) {
				n++
			}
			if d.allGrams.has(g) {
				all++
			}
		}
		s.grams = float64(n) / float64(len(qgrams))
		s.allGrams = float64(all) / float64(len(qgrams))
	}
	var tw, tgot float64
	for t := range d.title {
		w := l.idf(t)
		tw += w
		for _, u := range us {
			if u.has(t) {
				tgot += w
				break
			}
		}
	}
	if tw > 0 {
		s.title = tgot / tw
	}
	var qnorm float64
	for _, u := range us {
		qnorm += u.weight * u.weight
	}
	qnorm = math.Sqrt(qnorm)
	if qnorm == 0 {
		return s
	}
	// The cosine with each example, over the examples that share a term
	// with the question only: an article may have a hundred.
	dots := make(map[int32]float64, 8)
	best := make(map[int32]float64, 8)
	for _, u := range us {
		clear(best)
		for _, a := range u.alts {
			w := a.credit * l.idf(a.term)
			for _, ei := range d.byTerm[a.term] {
				best[ei] = max(best[ei], w)
			}
		}
		for ei, b := range best {
			dots[ei] += b * min(b, u.weight)
		}
	}
	for ei, dot := range dots {
		ex := d.examples[ei]
		if ex.norm == 0 {
			continue
		}
		if cos := dot / (qnorm * ex.norm); cos > s.example || (cos == s.example && ex.text < s.exampleText) {
			s.example, s.exampleText = cos, ex.text
		}
	}
	return s
}
