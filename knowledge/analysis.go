package knowledge

import (
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
)

// textAnalyzer turns text into the terms the lexical scorer matches on,
// for one language: accents folded, stop words dropped, Snowball (es) or
// Porter (en) stems, so "cancelé", "cancelar" and "cancelación" meet.
// Bleve's own token filters do the stop words and the stemming; the
// folding and the splitting into words are ours (features.go), the same
// as the classifier's.
type textAnalyzer struct {
	stops analysis.TokenMap
	stop  *stop.StopTokensFilter
	stem  analysis.TokenFilter
	// accents puts back the accents of the suffixes the stemmer knows
	// only with them ("cancelacion" → "cancelación"): text is folded
	// first, because customers often type without accents.
	accents func(string) string
}

func newTextAnalyzer(lang string) *textAnalyzer {
	switch lang {
	case "es":
		tm := analysis.NewTokenMap()
		if err := tm.LoadBytes(es.SpanishStopWords); err != nil {
			panic(err) // a list compiled into Bleve
		}
		foldStops(tm)
		return &textAnalyzer{stops: tm, stop: stop.NewStopTokensFilter(tm), stem: es.NewSpanishStemmerFilter(), accents: spanishSuffixAccents}
	default:
		tm := analysis.NewTokenMap()
		if err := tm.LoadBytes(en.EnglishStopWords); err != nil {
			panic(err)
		}
		// "can't", "don't": our word splitter leaves "t" and "don".
		for _, w := range []string{"t", "s", "don", "doesn", "didn", "isn", "wasn", "aren", "im", "pls", "plz", "please", "hi", "hello", "hey", "thanks"} {
			tm.AddToken(w)
		}
		return &textAnalyzer{stops: tm, stop: stop.NewStopTokensFilter(tm), stem: porter.NewPorterStemmer()}
	}
}

// foldStops adds the accent-folded form of every stop word ("qué" → "que"),
// since text is folded before it is filtered; and the fillers customers
// add to a question, which say nothing about what it is about.
func foldStops(tm analysis.TokenMap) {
	for w := range tm {
		if f := fold(w); f != w {
			tm.AddToken(f)
		}
	}
	for _, w := range []string{"hola", "buenas", "buenos", "dias", "tardes", "gracias", "porfa", "favor", "xfa", "pf", "oye", "tio", "tia", "vale", "ok", "q", "k", "xq", "pq", "d", "x", "tb", "tmb", "tambien", "ahi", "alli", "aqui", "aca", "alla", "algo", "poder", "puedo", "puede", "pueden", "podeis", "podria", "quiero", "queria", "quisiera", "necesito", "saber", "hacer", "hago", "hay", "tengo", "tiene", "tienen", "teneis", "tienes", "mas", "bien", "ya", "asi", "entonces", "pues", "igual", "cosa", "eso", "esto", "partir"} {
		tm.AddToken(w)
	}
}

// terms returns the stems of text in order (repeats kept), after folding.
func (a *textAnalyzer) terms(text string) []string {
	ws := words(fold(text))
	if len(ws) == 0 {
		return nil
	}
	ts := make(analysis.TokenStream, 0, len(ws))
	for i, w := range ws {
		ts = append(ts, &analysis.Token{Term: []byte(w), Position: i + 1, Type: analysis.AlphaNumeric})
	}
	ts = a.stop.Filter(ts)
	if a.accents != nil {
		for _, t := range ts {
			t.Term = []byte(a.accents(string(t.Term)))
		}
	}
	ts = a.stem.Filter(ts)
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if len(t.Term) > 0 {
			term := string(t.Term)
			if a.accents != nil {
				term = fold(term)
			}
			out = append(out, term)
		}
	}
	return out
}

// spanishSuffixAccents restores the accent of the suffixes Snowball's
// Spanish stemmer lists only accented: -ción, -sión, -áis, -éis, -ía(n).
func spanishSuffixAccents(w string) string {
	for _, r := range [][2]string{{"cion", "ción"}, {"sion", "sión"}, {"ais", "áis"}, {"eis", "éis"}, {"iais", "íais"}, {"rian", "rían"}, {"ria", "ría"}} {
		if len(w) > len(r[0])+2 && strings.HasSuffix(w, r[0]) {
			return w[:len(w)-len(r[0])] + r[1]
		}
	}
	return w
}

// isStop reports whether a folded word is a stop word.
func (a *textAnalyzer) isStop(w string) bool {
	_, ok := a.stops[w]
	return ok
}

// concept is the term a lexicon group adds to text that says one of its
// words: "~12". It cannot collide with a stem: stems are letters and digits.
func concept(group int) string { return "~" + strconv.Itoa(group) }

// isConcept reports whether a term is a lexicon concept.
func isConcept(t string) bool { return strings.HasPrefix(t, "~") }

var stopAnalyzers = [...]*textAnalyzer{newTextAnalyzer("es"), newTextAnalyzer("en")}

// IsStopWord reports whether a folded word is a Spanish or English stop
// word, or a filler customers add to any question ("porfa", "hola").
func IsStopWord(w string) bool {
	return stopAnalyzers[0].isStop(w) || stopAnalyzers[1].isStop(w)
}
