package knowledge

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// builtinLexicon is ayuda's lexicon of customer-service words and their
// everyday forms, in Spanish (Spain and Latin America) and English: each
// group lists words and short phrases that mean the same to a customer.
//
//go:embed lexicon.yaml
var builtinLexicon []byte

// Synonyms are groups of words and phrases that mean the same, as an
// author writes them in synonyms.yaml beside the articles (faq.LoadSynonyms).
type Synonyms [][]string

// ParseSynonyms reads groups in the lexicon's format:
//
//	groups:
//	  - [darse de baja, borrarse, desapuntarse]
func ParseSynonyms(data []byte) (Synonyms, error) {
	var f struct {
		Groups [][]string `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	var out Synonyms
	for i, g := range f.Groups {
		var clean []string
		for _, t := range g {
			if t = strings.TrimSpace(t); t != "" {
				clean = append(clean, t)
			}
		}
		if len(clean) < 2 {
			return nil, fmt.Errorf("group %d (%q) needs at least two words or phrases", i+1, strings.Join(g, ", "))
		}
		out = append(out, clean)
	}
	return out, nil
}

var (
	builtinOnce   sync.Once
	builtinGroups Synonyms
	builtinErr    error
)

// BuiltinLexicon returns the built-in groups.
func BuiltinLexicon() (Synonyms, error) {
	builtinOnce.Do(func() {
		builtinGroups, builtinErr = ParseSynonyms(builtinLexicon)
		if builtinErr != nil {
			builtinErr = fmt.Errorf("knowledge: built-in lexicon: %w", builtinErr)
		}
	})
	return builtinGroups, builtinErr
}

// lexicon is the groups analysed for one language: which stems, and which
// runs of stems, stand for which group.
type lexicon struct {
	single  map[string][]int    // stem → groups
	phrases map[string][]phrase // first stem → phrases starting with it
	words   map[string]bool     // folded words of the groups, for typos
	groups  int
}

type phrase struct {
	stems []string
	group int
}

// newLexicon analyses groups with a language's analyzer. A term whose
// words are all stop words is skipped.
func newLexicon(an *textAnalyzer, groups Synonyms) *lexicon {
	l := &lexicon{single: map[string][]int{}, phrases: map[string][]phrase{}, words: map[string]bool{}, groups: len(groups)}
	for g, terms := range groups {
		for _, t := range terms {
			stems := an.terms(t)
			switch len(stems) {
			case 0:
				continue
			case 1:
				if !slices.Contains(l.single[stems[0]], g) {
					l.single[stems[0]] = append(l.single[stems[0]], g)
				}
			default:
				l.phrases[stems[0]] = append(l.phrases[stems[0]], phrase{stems: stems, group: g})
			}
			for _, w := range wordsOf(t) {
				if !an.isStop(w) {
					l.words[w] = true
				}
			}
		}
	}
	return l
}

// concepts returns the concept terms of a text's stems: one per group
// that one of its stems or runs of stems belongs to.
func (l *lexicon) concepts(stems []string) []string {
	var out []string
	seen := map[int]bool{}
	for _, s := range stems {
		for _, g := range l.single[s] {
			if !seen[g] {
				seen[g] = true
				out = append(out, concept(g))
			}
		}
	}
	for _, g := range l.phraseConcepts(stems) {
		if !seen[g] {
			seen[g] = true
			out = append(out, concept(g))
		}
	}
	return out
}

// phraseConcepts returns the groups of the phrases found in stems.
func (l *lexicon) phraseConcepts(stems []string) []int {
	var out []int
	for i, s := range stems {
		for _, p := range l.phrases[s] {
			if i+len(p.stems) > len(stems) {
				continue
			}
			match := true
			for j, ps := range p.stems {
				if stems[i+j] != ps {
					match = false
					break
				}
			}
			if match && !slices.Contains(out, p.group) {
				out = append(out, p.group)
			}
		}
	}
	return out
}
