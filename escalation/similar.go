package escalation

import (
	"slices"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// stopwords are Spanish and English words that say nothing about a problem.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		el la los las lo un una unos unas de del al a en y o u que se me mi mis te tu tus su sus le les
		es son esta este esto estos estas ese esa eso ya no si sí por para con sin como cómo donde dónde
		cuando cuándo qué cual cuál hay ha han he has hemos muy mas más pero ni nos vos os ser estar sido
		tengo tiene tienen tener hace hacer puedo puede pueden quiero quería necesito hola buenas gracias
		favor todavía aun aún otra otro otros otras algo nada hoy ayer mañana dia día dias días desde hasta tan
		the a an of to in on at for and or but not no is are was were be been am i you he she it we they
		my your his her its our their me him us them this that these those there here do does did have has
		had can could would will should what when where why how which who please hello hi thanks still yet
		any some with without from about just get got`) {
		m[fold(w)] = true
	}
	return m
}()

// fold lowercases s and strips accents, keeping ñ.
func fold(s string) string {
	s = strings.ToLower(s)
	s = strings.ReplaceAll(s, "ñ", "\x00")
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	if out, _, err := transform.String(t, s); err == nil {
		s = out
	}
	return strings.ReplaceAll(s, "\x00", "ñ")
}

// Terms returns the analysed words of a short text, as a sorted set: folded,
// without stop words or words under three letters, cut to their first five
// letters (a crude stem that makes "llega", "llegado" and "llegó" one term
// in Spanish, "delivery" and "delivered" one in English).
func Terms(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(fold(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if stopwords[w] || len([]rune(w)) < 3 {
			continue
		}
		if r := []rune(w); len(r) > 5 {
			w = string(r[:5])
		}
		out = append(out, w)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// jaccard is |a∩b| / |a∪b| for sorted sets.
func jaccard(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	i, j, common := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			common++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(common) / float64(len(a)+len(b)-common)
}

// Cluster is a group of similar texts.
type Cluster struct {
	Members []int    // indexes into the texts, in order
	Terms   []string // the terms most members share (all of a single text's)
}

// Group clusters texts whose analysed terms overlap by at least threshold
// (Jaccard similarity), linking a text to a cluster when it is that similar
// to any member. Clusters come largest first (then by first member); a text
// like no other is a cluster of one.
func Group(texts []string, threshold float64) []Cluster {
	terms := make([][]string, len(texts))
	for i, s := range texts {
		terms[i] = Terms(s)
	}
	parent := make([]int, len(texts))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range texts {
		for j := i + 1; j < len(texts); j++ {
			if jaccard(terms[i], terms[j]) >= threshold {
				if a, b := find(i), find(j); a != b {
					parent[max(a, b)] = min(a, b)
				}
			}
		}
	}
	byRoot := map[int]*Cluster{}
	var out []*Cluster
	for i := range texts {
		r := find(i)
		c := byRoot[r]
		if c == nil {
			c = &Cluster{}
			byRoot[r] = c
			out = append(out, c)
		}
		c.Members = append(c.Members, i)
	}
	res := make([]Cluster, 0, len(out))
	for _, c := range out {
		count := map[string]int{}
		for _, m := range c.Members {
			for _, w := range terms[m] {
				count[w]++
			}
		}
		for w, n := range count {
			if len(c.Members) == 1 || 2*n > len(c.Members) {
				c.Terms = append(c.Terms, w)
			}
		}
		sort.Slice(c.Terms, func(i, j int) bool {
			if count[c.Terms[i]] != count[c.Terms[j]] {
				return count[c.Terms[i]] > count[c.Terms[j]]
			}
			return c.Terms[i] < c.Terms[j]
		})
		res = append(res, *c)
	}
	sort.SliceStable(res, func(i, j int) bool { return len(res[i].Members) > len(res[j].Members) })
	return res
}
