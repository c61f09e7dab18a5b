package knowledge

import (
	"context"
	"errors"
	"sort"
	"strings"

	"ayuda/faq"
)

// Asked is a question the bot could not answer well, for Suggest: it found
// no article, the customer said the answer did not help, or it ended in a
// ticket. Reply is what an agent answered, when one did.
type Asked struct {
	Question string
	Lang     string
	Reply    string
}

// Suggestion is a change an author may make to the articles: an existing
// article with new example questions, or a new article drafted from
// questions that no article covers (its body from the agents' replies).
type Suggestion struct {
	Entry faq.Entry
	// Added are the example questions the suggestion adds; for a new
	// article, all of them.
	Added []string
	New   bool
	// Evidence is how many asked questions led to it.
	Evidence int
}

// near is the confidence from which a question the bot did not answer is
// taken as another way to ask the article it nearly found.
const near = 0.5

// Suggest proposes, from questions asked, new example questions for the
// articles they nearly matched, and new articles for the topics that no
// article covers (questions that share half their terms or more go together).
// Internal articles are never proposed for customers' questions.
func (x *Index) Suggest(ctx context.Context, asked []Asked) ([]Suggestion, error) {
	x.mu.RLock()
	s := x.cur
	x.mu.RUnlock()
	byArticle := map[string]*Suggestion{}
	type topic struct {
		lang    string
		terms   map[string]bool
		asked   []Asked
		replies []string
	}
	var topics []*topic
	for _, a := range asked {
		if strings.TrimSpace(a.Question) == "" {
			continue
		}
		l, ok := s.lex[a.Lang]
		if !ok {
			continue
		}
		hits, err := x.Search(ctx, Query{Text: a.Question, Lang: a.Lang, Limit: 1})
		if err != nil && !errors.Is(err, ErrEmpty) {
			return nil, err
		}
		if len(hits) > 0 && hits[0].Confidence >= near {
			h := hits[0]
			sg := byArticle[h.Entry.Key()]
			if sg == nil {
				sg = &Suggestion{Entry: h.Entry}
				byArticle[h.Entry.Key()] = sg
			}
			sg.Evidence++
			if !containsFold(sg.Entry.Questions, a.Question) && !containsFold(sg.Added, a.Question) {
				sg.Added = append(sg.Added, a.Question)
			}
			continue
		}
		terms := map[string]bool{}
		for _, t := range l.textTerms(a.Question) {
			terms[t] = true
		}
		if len(terms) == 0 {
			continue
		}
		var best *topic
		bestSim := 0.0
		for _, tp := range topics {
			if tp.lang != a.Lang {
				continue
			}
			if sim := overlap(terms, tp.terms); sim > bestSim {
				best, bestSim = tp, sim
			}
		}
		if best == nil || bestSim < 0.5 {
			best = &topic{lang: a.Lang, terms: map[string]bool{}}
			topics = append(topics, best)
		}
		for t := range terms {
			best.terms[t] = true
		}
		best.asked = append(best.asked, a)
		if r := strings.TrimSpace(a.Reply); r != "" {
			best.replies = append(best.replies, r)
		}
	}
	var out []Suggestion
	for _, sg := range byArticle {
		sg.Entry.Questions = append(append([]string(nil), sg.Entry.Questions...), sg.Added...)
		out = append(out, *sg)
	}
	for _, tp := range topics {
		// A topic asked once, with no agent's answer, is not yet an article.
		if len(tp.asked) < 2 && len(tp.replies) == 0 {
			continue
		}
		e := faq.Entry{ID: "nuevo-" + slug(tp.asked[0].Question), Lang: tp.lang, Title: capitalizeFirst(tp.asked[0].Question), Audience: faq.Public}
		for _, a := range tp.asked {
			if len(e.Questions) < 5 && !containsFold(e.Questions, a.Question) {
				e.Questions = append(e.Questions, a.Question)
			}
		}
		if len(tp.replies) > 0 {
			e.Body = tp.replies[0]
		} else if tp.lang == "en" {
			e.Body = "Write the answer here: customers asked this and no article answers it."
		} else {
			e.Body = "Escribe aquí la respuesta: los clientes lo han preguntado y ningún artículo lo responde."
		}
		out = append(out, Suggestion{Entry: e, Added: e.Questions, New: true, Evidence: len(tp.asked)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Evidence != out[j].Evidence {
			return out[i].Evidence > out[j].Evidence
		}
		return out[i].Entry.Key() < out[j].Entry.Key()
	})
	return out, nil
}

// overlap is the share of the smaller set's terms the other has.
func overlap(a, b map[string]bool) float64 {
	var inter int
	for t := range a {
		if b[t] {
			inter++
		}
	}
	if n := min(len(a), len(b)); n > 0 {
		return float64(inter) / float64(n)
	}
	return 0
}

func containsFold(list []string, s string) bool {
	f := fold(strings.TrimSpace(s))
	for _, x := range list {
		if fold(strings.TrimSpace(x)) == f {
			return true
		}
	}
	return false
}

// slug makes an article id from a question's first words.
func slug(q string) string {
	ws := words(fold(q))
	if len(ws) > 5 {
		ws = ws[:5]
	}
	id := strings.Join(ws, "-")
	if id == "" {
		id = "tema"
	}
	if len(id) > 48 {
		id = strings.Trim(id[:48], "-")
	}
	return id
}

func capitalizeFirst(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}
