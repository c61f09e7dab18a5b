package dialog

import (
	"ayuda/faq"
	"ayuda/knowledge"
	"context"
	"errors"
	"strings"
)

// Decisions the engine makes about a question.
const (
	Answer   = "answer"
	Clarify  = "clarify"
	Decline  = "decline"
	Escalate = "escalate"
)

// Hit is a scored article in a Decision.
type Hit struct {
	ID         string  `json:"id"`
	Title      string  `json:"title,omitempty"`
	Score      float64 `json:"score"`
	Confidence float64 `json:"confidence"`
}

// Decision explains what the engine would do with a question.
type Decision struct {
	Decision string `json:"decision"`
	// Reason says why a question is escalated: "requested", a request
	// type, or the kind of urgent case and the words that say so.
	Reason  string `json:"reason,omitempty"`
	Article string `json:"article"`
	// Also is the article of a second question in the same message,
	// offered with the answer ("¿cuánto tarda el envío? y otra cosa, ¿cómo
	// cambio la contraseña?").
	Also string `json:"also,omitempty"`
	Lang string `json:"lang"`
	Hits []Hit  `json:"hits"`

	hits []knowledge.Hit
}

// Ask returns the decision for a single question, outside any
// conversation: what `ayuda ask` shows. An empty lang is detected.
func (e *Engine) Ask(ctx context.Context, text, lang string, internal bool) (Decision, error) {
	text = clean(text)
	if lang == "" {
		lang = detectLang(text, e.cfg.DefaultLang)
	}
	escalate := func(why string) (Decision, error) {
		return Decision{Decision: Escalate, Reason: why, Lang: lang, Hits: []Hit{}}, nil
	}
	// The same order as a conversation's turn: safety and urgency, a
	// request for a person, a complaint; each searched first when it is
	// only a question.
	orEscalate := func(why string) (Decision, error) {
		d, err := e.decide(ctx, text, lang, internal)
		if err != nil || d.Decision == Answer {
			return d, err
		}
		return escalate(why)
	}
	in := detectIntent(text)
	if in == None || in == Human {
		if k, w := urgentCase(text); k != nil {
			why := k.name + ": «" + w + "»"
			if asksAbout(k, text) {
				return e.decide(ctx, text, lang, internal)
			}
			return escalate(why)
		}
	}
	if in == Human {
		if contactQuestion(text) {
			return e.decide(ctx, text, lang, internal)
		}
		return escalate("requested")
	}
	if typ, question := sensitiveType(text); typ != "" && !question && !asks(text) {
		if isRequest(text) {
			return escalate(string(typ))
		}
		return orEscalate(string(typ))
	}
	if in == None {
		if lc := learnCase(text); lc != nil {
			if lc.now() {
				return escalate(lc.why)
			}
			d, err := e.decide(ctx, text, lang, internal)
			if err != nil || lc.keeps(d) {
				return d, err
			}
			return escalate(lc.why)
		}
	}
	return e.decide(ctx, text, lang, internal)
}

// decide searches the question in lang (and in the other language when lang
// finds nothing good) and applies the thresholds.
func (e *Engine) decide(ctx context.Context, text, lang string, internal bool) (Decision, error) {
	hits, err := e.cfg.Search.Search(ctx, knowledge.Query{Text: text, Lang: lang, Internal: internal, Limit: 5})
	if err != nil && !errors.Is(err, knowledge.ErrEmpty) {
		return Decision{}, err
	}
	if len(hits) == 0 || hits[0].Confidence < e.cfg.AnswerThreshold {
		other := "en"
		if lang == "en" {
			other = "es"
		}
		alt, err := e.cfg.Search.Search(ctx, knowledge.Query{Text: text, Lang: other, Internal: internal, Limit: 5})
		if err != nil && !errors.Is(err, knowledge.ErrEmpty) {
			return Decision{}, err
		}
		if len(alt) > 0 && alt[0].Confidence >= e.cfg.AnswerThreshold && (len(hits) == 0 || alt[0].Confidence > hits[0].Confidence+e.cfg.Margin) {
			hits, lang = alt, other
		}
	}
	d := Decision{Decision: Decline, Lang: lang, Hits: make([]Hit, 0, len(hits)), hits: hits}
	for _, h := range hits {
		d.Hits = append(d.Hits, Hit{ID: h.ID, Title: h.Title, Score: h.Score, Confidence: h.Confidence})
	}
	if len(hits) == 0 {
		return d, nil
	}
	top := hits[0]
	var second float64
	for _, h := range hits[1:] {
		if h.ID != top.ID {
			second = h.Confidence
			break
		}
	}
	// A short question two articles both fit well says too little to pick
	// one ("el pedido": cancel it, or where is it?): the customer chooses.
	contested := len(strings.Fields(fold(text))) <= 3 && second >= e.cfg.AnswerThreshold*2/3 && top.Confidence-second < 3*e.cfg.Margin
	switch {
	case top.Confidence >= e.cfg.AnswerThreshold && !contested:
		d.Decision, d.Article = Answer, top.ID
		for _, h := range hits[1:] {
			if h.ID != top.ID && h.Part != top.Part && h.Confidence >= e.cfg.AnswerThreshold*partOffer {
				d.Also = h.ID
				break
			}
		}
	case top.Confidence >= e.cfg.ClarifyThreshold:
		d.Decision = Clarify
	}
	return d, nil
}

// partOffer: a second question's article is offered with the answer
// from this share of the answer threshold (its part's confidence is
// already discounted).
const partOffer = 0.75

// entry finds an article for the engine's own use, in lang or else the
// other language, never an internal one unless internal is allowed.
func (e *Engine) entry(id, lang string, internal bool) (faq.Entry, bool) {
	for _, l := range []string{lang, "es", "en"} {
		if en, ok := e.cfg.Search.Entry(id, l); ok {
			if en.IsInternal() && !internal {
				return faq.Entry{}, false
			}
			return en, true
		}
	}
	return faq.Entry{}, false
}
