package dialog

import (
	"context"
	"fmt"
	"strings"

	"ayuda/bots"
	"ayuda/escalation"
	"ayuda/knowledge"
)

// turn is one message being handled.
type turn struct {
	e *Engine
	c *conversation
	m bots.Message
	// entryAt is one past where this turn's message went in the history
	// (0: it was not added), so a turn about past tickets can take it out.
	entryAt int
	// relayed is set when the message went to a ticket rather than the
	// bot's own history (and so does the reply).
	relayed bool
	// lastHit is the search hit being answered, for the offer's scores.
	lastHit knowledge.Hit
	// onDomain is set when the last search found articles near the
	// question, even if none fit well enough to answer.
	onDomain bool
	// answers are what the bot answered (or could not) in this turn, for
	// the reports; Handle records them.
	answers []escalation.Answer
}

func (t *turn) run(ctx context.Context) (bots.Reply, error) {
	c, m := t.c, t.m
	first := c.Lang == ""
	if first {
		// The platform's locale, when it names a language ayuda speaks,
		// stands in until the customer's words say otherwise.
		c.Lang = t.e.cfg.DefaultLang
		if l := localeLang(m.Locale); l != "" {
			c.Lang = l
		}
	}
	pressed := t.pressed()
	// A press keeps the conversation's language, but a first message that
	// reads like a button id ("human" typed alone) sets it.
	if m.Text != "" && (pressed == "" || first) {
		c.Lang = detectLang(m.Text, c.Lang)
	}
	entry := escalation.Entry{Time: m.Time, Author: escalation.AuthorCustomer, Name: m.Name, Text: t.said(pressed), Attachments: m.Attachments, MessageID: m.ID}

	if id, yes, ok := solvedChoice(pressed); ok {
		return t.solved(ctx, id, yes, escalation.Entry{})
	}
	if id, score, ok := rateChoice(pressed); ok {
		return t.rate(ctx, id, score)
	}
	if c.State == stateComment {
		if r, done, err := t.comment(ctx, pressed); err != nil || done {
			return r, err
		}
	}
	if c.Ticket != 0 {
		r, done, err := t.ticketBound(ctx, pressed, entry)
		if err != nil || done {
			return r, err
		}
	}
	t.entryAt = len(c.History) + 1
	c.History = append(c.History, entry)
	if m.Text == "" {
		if len(m.Attachments) > 0 {
			return bots.Reply{Text: say(c.Lang, "attachment-bot"), Choices: []bots.Choice{choice(c.Lang, "human", "c-human")}}, nil
		}
		return bots.Reply{Text: say(c.Lang, "empty")}, nil
	}

	in := None
	switch {
	case pressed == "human":
		in = Human
	case pressed == "status":
		in = StatusReq
	case pressed == "new":
		in = NewReq
	case pressed == "cancel":
		in = Cancel
	case pressed == "yes":
		in = Yes
	case pressed == "no", pressed == "none":
		in = No
	case pressed == "complain":
		return t.escalate(ctx, escalation.ReasonSensitive, escalation.Queja)
	case strings.HasPrefix(pressed, "type:"):
		typ, err := escalation.ParseType(strings.TrimPrefix(pressed, "type:"))
		if err == nil && c.Intake != nil {
			c.Intake.Type, c.Intake.Why = typ, "chosen by the customer"
			return t.continueIntake(ctx)
		}
	case strings.HasPrefix(pressed, "kb:"):
		if r, ok := t.answerArticle(strings.TrimPrefix(pressed, "kb:")); ok {
			return r, nil
		}
	case pressed == "":
		in = detectIntent(m.Text)
	}

	switch c.State {
	case stateType:
		if in == Cancel {
			return t.cancelIntake(), nil
		}
		if typ, err := escalation.ParseType(m.Text); err == nil {
			c.Intake.Type, c.Intake.Why = typ, "chosen by the customer"
			return t.continueIntake(ctx)
		}
		if in == None {
			// Not a type: take it as the description and infer the type.
			c.Question = m.Text
			c.Intake.Type, c.Intake.Why = inferType(m.Text)
			return t.continueIntake(ctx)
		}
	case stateDescribe:
		if in == Cancel {
			return t.cancelIntake(), nil
		}
		if in == None || in == No || in == Yes {
			c.Question = m.Text
			return t.continueIntake(ctx)
		}
	}

	// Safety and urgency go to a person before anything else, however
	// they are phrased; a question about the process is searched first.
	if pressed == "" && (in == None || in == Human) {
		if k, _ := urgentCase(m.Text); k != nil {
			if !asksAbout(k, m.Text) {
				c.Question = m.Text
				return t.escalate(ctx, escalation.ReasonSensitive, k.typ)
			}
			return t.search(ctx)
		}
	}

	switch in {
	case Greeting:
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "greeting")}, nil
	case Thanks:
		if c.State == stateFeedback {
			t.feedback("yes")
		}
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "thanks")}, nil
	case Goodbye:
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "goodbye")}, nil
	case Help, Cancel:
		c.State, c.Intake = stateIdle, nil
		return t.help(), nil
	case Human:
		if describesProblem(m.Text) {
			c.Question = m.Text
		}
		if pressed == "" && contactQuestion(m.Text) {
			// "¿En qué horario puedo hablar con una persona?" is a question
			// for the articles; the reply offers a person either way.
			return t.search(ctx)
		}
		return t.escalate(ctx, escalation.ReasonRequested, "")
	case StatusReq:
		return t.status(ctx)
	case NewReq:
		return t.escalate(ctx, escalation.ReasonNewRequest, "")
	case Yes:
		if c.State == stateFeedback {
			t.feedback("yes")
			c.State = stateIdle
			return bots.Reply{Text: say(c.Lang, "glad")}, nil
		}
		return t.help(), nil
	case No:
		switch c.State {
		case stateFeedback:
			t.feedback("no")
			return t.escalate(ctx, escalation.ReasonNegative, "")
		case stateClarify:
			return t.miss(ctx, "decline-after-clarify")
		}
		return t.help(), nil
	}

	// A complaint or a claim is answered when an article covers it ("the
	// showers are filthy, where do I say so?"); otherwise a person takes it.
	if typ, question := sensitiveType(m.Text); typ != "" && !question && !asks(m.Text) {
		if isRequest(m.Text) { // "quiero poner una queja: …"
			c.Question = m.Text
			return t.escalate(ctx, escalation.ReasonSensitive, typ)
		}
		return t.searchOr(ctx, func() (bots.Reply, error) {
			c.Question = m.Text
			return t.escalate(ctx, escalation.ReasonSensitive, typ)
		})
	}
	// What no rule names but reads like the messages a person must take.
	if pressed == "" && in == None {
		if lc := learnCase(m.Text); lc != nil {
			asked := c.Question // what a bare request for a person leaves as the question
			esc := func() (bots.Reply, error) {
				c.Question = asked
				if lc.reason != escalation.ReasonRequested || describesProblem(m.Text) {
					c.Question = m.Text
				}
				return t.escalateWhy(ctx, lc.reason, lc.typ, lc.why)
			}
			if lc.now() {
				return esc()
			}
			return t.searchWith(ctx, esc, lc.keeps)
		}
	}
	return t.search(ctx)
}

// throttled keeps a message that came too fast, without deciding anything:
// on the ticket if there is one, else in the conversation. The first one
// of a flood is told to slow down; the rest get no reply.
func (t *turn) throttled(ctx context.Context) (bots.Reply, error) {
	c, m := t.c, t.m
	if c.Lang == "" {
		c.Lang = t.e.cfg.DefaultLang
	}
	entry := escalation.Entry{Time: m.Time, Author: escalation.AuthorCustomer, Name: m.Name, Text: m.Text, Attachments: m.Attachments, MessageID: m.ID}
	t.relayed = true
	if c.Ticket != 0 {
		if tk, err := t.e.cfg.Queue.Recent(ctx, c.Ticket); err == nil && tk.Status.Open() {
			if _, err := t.e.cfg.Queue.CustomerMessage(ctx, c.Ticket, entry); err != nil {
				return bots.Reply{}, err
			}
		} else {
			c.History = append(c.History, entry)
		}
	} else {
		c.History = append(c.History, entry)
	}
	if c.Throttled {
		return bots.Reply{}, nil
	}
	c.Throttled = true
	return bots.Reply{Text: say(c.Lang, "too-fast")}, nil
}

// pressed returns the choice the message selects: one of the choices
// offered last (by id, label or number), or an id the engine always
// understands, or "".
func (t *turn) pressed() string {
	text := strings.TrimSpace(t.m.Text)
	if text == "" {
		return ""
	}
	for i, ch := range t.c.Pending {
		if text == ch.ID || fold(text) == fold(ch.Label) || text == fmt.Sprint(i+1) {
			return ch.ID
		}
	}
	// Buttons pressed later, after the conversation moved on.
	if _, _, ok := solvedChoice(text); ok {
		return text
	}
	if _, _, ok := rateChoice(text); ok {
		return text
	}
	if strings.HasPrefix(text, "kb:") && !strings.ContainsAny(text, " \n") {
		return text
	}
	switch text {
	case "human", "status", "new":
		return text
	}
	return ""
}

// said is what the customer said, for the transcript: the label of a
// pressed choice rather than its id.
func (t *turn) said(pressed string) string {
	if pressed != "" {
		for _, ch := range t.c.Pending {
			if ch.ID == pressed {
				return ch.Label
			}
		}
	}
	return t.m.Text
}

func (t *turn) help() bots.Reply {
	l := t.c.Lang
	return bots.Reply{Text: say(l, "help"), Choices: []bots.Choice{choice(l, "human", "c-human"), choice(l, "status", "c-status")}}
}

// aside keeps this turn out of the history a new ticket would carry: it
// is about tickets already filed (their status, whether one is solved),
// not part of the customer's next story.
func (t *turn) aside() {
	t.relayed = true
	if t.entryAt > 0 && t.entryAt == len(t.c.History) {
		t.c.History = t.c.History[:t.entryAt-1]
		t.entryAt = 0
	}
}

func (t *turn) status(ctx context.Context) (bots.Reply, error) {
	t.aside()
	ts, err := t.e.cfg.Queue.List(ctx, escalation.Filter{Customer: t.m.From.Customer(), Limit: 10})
	if err != nil {
		return bots.Reply{}, err
	}
	r := statusReply(t.c.Lang, ts)
	if t.m.Private.IsZero() || t.m.Private == t.m.From {
		return r, nil
	}
	// Never list someone's requests where others read.
	if err := t.e.cfg.Queue.Enqueue(ctx, t.m.Private, r); err != nil {
		return bots.Reply{}, err
	}
	return bots.Reply{Text: say(t.c.Lang, "status-private")}, nil
}

// search looks the question up and answers, clarifies or declines.
func (t *turn) search(ctx context.Context) (bots.Reply, error) { return t.searchOr(ctx, nil) }

// searchOr is search that, when the articles hold no answer and fallback
// is set, replies with fallback instead of clarifying or declining.
func (t *turn) searchOr(ctx context.Context, fallback func() (bots.Reply, error)) (bots.Reply, error) {
	return t.searchWith(ctx, fallback, func(d Decision) bool { return d.Decision == Answer })
}

// searchWith is searchOr that falls back unless keep takes the articles'
// decision.
func (t *turn) searchWith(ctx context.Context, fallback func() (bots.Reply, error), keep func(Decision) bool) (bots.Reply, error) {
	c := t.c
	c.Question = t.m.Text
	d, err := t.e.decide(ctx, t.m.Text, c.Lang, t.m.Internal)
	if err != nil {
		return bots.Reply{}, err
	}
	c.Lang = d.Lang
	if fallback != nil && !keep(d) {
		return fallback()
	}
	t.onDomain = len(d.hits) > 0 && d.hits[0].Confidence >= t.e.cfg.ClarifyThreshold/2
	switch d.Decision {
	case Answer:
		t.lastHit = d.hits[0]
		r, _ := t.answerArticle(d.Article)
		if d.Also != "" {
			if en, ok := t.e.entry(d.Also, c.Lang, t.m.Internal); ok {
				r.Choices = append(r.Choices, bots.Choice{ID: "kb:" + en.ID, Label: en.Title})
			}
		}
		return r, nil
	case Clarify:
		c.State = stateClarify
		r := bots.Reply{Text: say(c.Lang, "clarify")}
		for _, h := range d.hits {
			if h.Confidence < t.e.cfg.ClarifyThreshold || len(r.Choices) == 3 {
				break
			}
			r.Choices = append(r.Choices, bots.Choice{ID: "kb:" + h.ID, Label: h.Title})
			c.Offered = append(c.Offered, escalation.Offer{Article: h.ID, Title: h.Title, Score: h.Score, Confidence: h.Confidence})
		}
		r.Choices = append(r.Choices, choice(c.Lang, "none", "c-none"))
		return r, nil
	}
	return t.miss(ctx, "decline")
}

// miss counts a question the bot could not answer; the second in a row
// goes to a person.
func (t *turn) miss(ctx context.Context, key string) (bots.Reply, error) {
	c := t.c
	if c.Question != "" {
		t.answers = append(t.answers, escalation.Answer{Customer: t.m.From.Customer(), Question: c.Question, Lang: c.Lang, At: t.m.Time})
	}
	c.Misses++
	c.State = stateIdle
	// After two misses in a row the customer is offered a person and one
	// more try; a ticket opens by itself only for a real request about
	// what the articles cover, never for chatter or gibberish.
	if c.Misses >= 2 {
		if t.onDomain && isRequest(t.m.Text) {
			return t.escalate(ctx, escalation.ReasonRepeatedMiss, "")
		}
		key = "miss-again"
	}
	return bots.Reply{Text: say(c.Lang, key), Choices: []bots.Choice{choice(c.Lang, "human", "c-human")}}, nil
}

// answerArticle replies with an article's answer and asks for feedback.
func (t *turn) answerArticle(id string) (bots.Reply, bool) {
	c := t.c
	e, ok := t.e.entry(id, c.Lang, t.m.Internal)
	if !ok {
		return bots.Reply{}, false
	}
	c.Lang = e.Lang
	c.State, c.Article, c.Misses = stateFeedback, e.ID, 0
	var score, conf float64
	for _, o := range c.Offered {
		if o.Article == e.ID {
			score, conf = o.Score, o.Confidence
		}
	}
	if t.lastHit.ID == e.ID {
		score, conf = t.lastHit.Score, t.lastHit.Confidence
	}
	c.Offered = append(c.Offered, escalation.Offer{Article: e.ID, Title: e.Title, Score: score, Confidence: conf})
	c.Answered = &escalation.Answer{Customer: t.m.From.Customer(), Question: c.Question, Article: e.ID, Lang: e.Lang, At: t.m.Time}
	t.answers = append(t.answers, *c.Answered)
	r := bots.Reply{
		Text: e.Title + "\n\n" + e.Body + "\n\n" + say(c.Lang, "feedback"),
		// A person is one press away without saying the article did not
		// help: "No" is feedback on the article, not the way to a person.
		Choices: []bots.Choice{choice(c.Lang, "yes", "c-yes"), choice(c.Lang, "no", "c-no"), choice(c.Lang, "human", "c-human")},
	}
	if e.ID == "quejas-reclamos" {
		r.Choices = append(r.Choices, choice(c.Lang, "complain", "c-complain"))
	}
	return r, true
}

// feedback records the customer's answer to "did this help?" on the last
// offer of the answered article.
func (t *turn) feedback(v string) {
	c := t.c
	if a := c.Answered; a != nil && a.Article == c.Article {
		a.Feedback = v
		t.answers = append(t.answers, *a)
	}
	for i := len(c.Offered) - 1; i >= 0; i-- {
		if c.Offered[i].Article == c.Article {
			c.Offered[i].Feedback = v
			return
		}
	}
}
