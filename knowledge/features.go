package knowledge

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fold lowercases text and strips accents ("Devolución" → "devolucion"),
// so that a question typed without accents, as people often do, has the
// same features as the article's.
func fold(text string) string {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(text)
	}
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range norm.NFD.String(text) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// words splits folded text into runs of letters and digits.
func words(folded string) []string {
	return strings.FieldsFunc(folded, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
}

// Feature kinds: the first byte of a feature names its kind, and the
// classifier weighs each kind (featureWeight).
const (
	kindWord   = 'w' // a word
	kindPair   = 'b' // two words next to each other, or a word at either end
	kindSkip   = 's' // two words with one between them
	kindTerm   = 't' // an analysed term: stemmed, stop words dropped
	kindLetter = 'c' // 3 to 5 letters inside a word, with its edges
	kindSpan   = 'x' // 3 to 5 letters across the space between two words
)

// featureWeight scales each kind of feature against the others. Letter
// pieces are many per word, so each weighs less than a word.
var featureWeight = map[byte]float32{kindLetter: 0.7, kindSpan: 0.5}

// features lists the distinct features of a text, given its analysed
// terms: words, pairs of words, pairs of words one apart, terms, and
// letter pieces. Letter pieces make "reembolsado" and "reembolso", or a
// word with a typo, share most of their features; pairs tell "cancel my
// order" from "order my cancel".
func features(text string, terms []string) []string {
	ws := words(fold(text))
	out := make([]string, 0, 24*len(ws)+len(terms))
	seen := make(map[string]struct{}, cap(out))
	add := func(kind byte, parts ...string) {
		f := string(kind) + " " + strings.Join(parts, " ")
		if _, ok := seen[f]; ok {
			return
		}
		seen[f] = struct{}{}
		out = append(out, f)
	}
	prev := "^"
	for i, w := range ws {
		add(kindWord, w)
		add(kindPair, prev, w)
		if i >= 2 {
			add(kindSkip, ws[i-2], w)
		}
		prev = w
		padded := []rune("<" + w + ">")
		for n := 3; n <= 5; n++ {
			for j := 0; j+n <= len(padded); j++ {
				add(kindLetter, string(padded[j:j+n]))
			}
		}
	}
	if len(ws) == 0 {
		return out
	}
	add(kindPair, prev, "$")
	line := []rune(" " + strings.Join(ws, " ") + " ")
	for n := 3; n <= 5; n++ {
		for j := 0; j+n <= len(line); j++ {
			piece := line[j : j+n]
			for _, r := range piece[1 : n-1] {
				if r == ' ' {
					add(kindSpan, string(piece))
					break
				}
			}
		}
	}
	for _, t := range terms {
		add(kindTerm, fold(t))
	}
	return out
}
