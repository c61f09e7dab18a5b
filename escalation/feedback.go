package escalation

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Feedback is what customers said of the knowledge base over a period:
// per article, how often "did this solve it?" got a yes or a no, and which
// questions most often ended in a ticket. It is read from the answers the
// bot recorded (RecordAnswer) and from the tickets, both stored durably.
type Feedback struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Articles, worst first: the highest share of "no", then the most
	// "no"s.
	Articles []ArticleFeedback `json:"articles"`
	// Questions that ended in a ticket, the most frequent first; the same
	// question asked with other capitals, accents or punctuation counts
	// as one.
	Questions []TicketQuestion `json:"questions"`
}

// ArticleFeedback counts the answers given with one article.
type ArticleFeedback struct {
	Article  string `json:"article"`
	Lang     string `json:"lang"`
	Answered int    `json:"answered"`
	Yes      int    `json:"yes"`
	No       int    `json:"no"`
	// NoRate is No / (Yes + No); zero when nobody said.
	NoRate float64 `json:"no_rate"`
	// Questions that got a "no", the latest first (at most a few).
	NoQuestions []string `json:"no_questions,omitempty"`
}

// TicketQuestion is a question that ended in tickets.
type TicketQuestion struct {
	Question string `json:"question"` // as first asked
	Count    int    `json:"count"`
	Tickets  []ID   `json:"tickets"`
	// Articles the bot offered before the ticket, and the reasons the
	// tickets were opened.
	Articles []string `json:"articles,omitempty"`
	Reasons  []Reason `json:"reasons,omitempty"`
}

// feedbackExamples bounds the "no" questions kept per article.
const feedbackExamples = 5

// FeedbackStats returns the feedback from since (inclusive) to until
// (exclusive). Articles with no answers in the period are not listed.
func (q *Queue) FeedbackStats(ctx context.Context, since, until time.Time) (*Feedback, error) {
	answers, err := q.Answers(ctx, since, until)
	if err != nil {
		return nil, fmt.Errorf("escalation: feedback: %w", err)
	}
	f := &Feedback{Since: since, Until: until, Articles: []ArticleFeedback{}, Questions: []TicketQuestion{}}
	byArticle := map[string]*ArticleFeedback{}
	for i := len(answers) - 1; i >= 0; i-- { // latest first, for the examples
		a := answers[i]
		if a.Article == "" {
			continue
		}
		key := a.Article + "/" + a.Lang
		af := byArticle[key]
		if af == nil {
			af = &ArticleFeedback{Article: a.Article, Lang: a.Lang}
			byArticle[key] = af
		}
		af.Answered++
		switch a.Feedback {
		case "yes":
			af.Yes++
		case "no":
			af.No++
			if len(af.NoQuestions) < feedbackExamples {
				af.NoQuestions = append(af.NoQuestions, a.Question)
			}
		}
	}
	for _, af := range byArticle {
		if n := af.Yes + af.No; n > 0 {
			af.NoRate = float64(af.No) / float64(n)
		}
		f.Articles = append(f.Articles, *af)
	}
	sort.Slice(f.Articles, func(i, j int) bool {
		a, b := f.Articles[i], f.Articles[j]
		switch {
		case a.NoRate != b.NoRate:
			return a.NoRate > b.NoRate
		case a.No != b.No:
			return a.No > b.No
		}
		return a.Article+"/"+a.Lang < b.Article+"/"+b.Lang
	})

	tickets, err := q.List(ctx, Filter{})
	if err != nil {
		return nil, fmt.Errorf("escalation: feedback: %w", err)
	}
	byQuestion := map[string]*TicketQuestion{}
	var order []string
	for i := len(tickets) - 1; i >= 0; i-- { // oldest first: the first wording is kept
		t := tickets[i]
		if t.Created.Before(since) || !t.Created.Before(until) || t.Summary == "" {
			continue
		}
		key := questionKey(t.Summary)
		tq := byQuestion[key]
		if tq == nil {
			tq = &TicketQuestion{Question: t.Summary}
			byQuestion[key] = tq
			order = append(order, key)
		}
		tq.Count++
		tq.Tickets = append(tq.Tickets, t.ID)
		for _, o := range t.Offered {
			if !contains(tq.Articles, o.Article) {
				tq.Articles = append(tq.Articles, o.Article)
			}
		}
		if !contains(tq.Reasons, t.Reason) {
			tq.Reasons = append(tq.Reasons, t.Reason)
		}
	}
	for _, key := range order {
		f.Questions = append(f.Questions, *byQuestion[key])
	}
	sort.SliceStable(f.Questions, func(i, j int) bool { return f.Questions[i].Count > f.Questions[j].Count })
	return f, nil
}

// questionKey is a question without case, accents, punctuation or extra
// spaces: "¿Dónde está mi pedido?" and "donde esta mi pedido" are one.
func questionKey(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		r = unaccent(r)
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		default:
			space = true
		}
	}
	return b.String()
}

// unaccent maps the accented vowels of Spanish to plain ones.
func unaccent(r rune) rune {
	switch r {
	case 'á', 'à', 'ä':
		return 'a'
	case 'é', 'è', 'ë':
		return 'e'
	case 'í', 'ì', 'ï':
		return 'i'
	case 'ó', 'ò', 'ö':
		return 'o'
	case 'ú', 'ù', 'ü':
		return 'u'
	}
	return r
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
