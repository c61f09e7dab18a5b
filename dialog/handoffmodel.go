package dialog

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"

	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

// The rules in handoff.go and intents.go name the words that send a
// message to a person; they miss the same request put another way ("get me
// a manager", "un encargado por favor"). handoffModel learns from the same
// labelled messages which words and pieces of words make a message one a
// person must take, and of which kind, so that a wording no rule names is
// still recognised. The rules keep the first word: the model only speaks
// when they say nothing.
//
// handoff/ holds the labelled messages, each written by helpers apart
// from the engine, as JSON Lines {"q", "lang", "want": "human"|"answer",
// "kind"}:
//   - messages.jsonl: 670 messages from three writers (390 a person must
//     take, 280 ordinary questions with words that could mislead a bot); the
//     rules were tuned on them.
//   - ordinary.jsonl: 400 ordinary messages a help centre answers: long
//     stories with the question inside, first person, annoyed but not
//     abusive, words like "me robaron", "alguien", "urgente" or "agente de
//     viajes"; Spanish from six countries, English from four, twenty kinds
//     of company.
//   - more-*.jsonl: 300 messages each from four more writers (200 for a
//     person, labelled by kind, and 100 ordinary questions), in other
//     countries' Spanish and English and for other companies.
//   - ordinary-i.jsonl: 400 ordinary messages that look like cases:
//     imperatives to the bot, how to report a theft or dispute a charge,
//     "agente inmobiliario", accidents that end in a procedural question.
//   - chatter-j.jsonl: 300 messages of chatter, small talk and nonsense
//     ("sing me a song", "me aburro", "asdf"): without them short chatter
//     read like a short request for a person, and opened tickets.
//
// The built-in articles' example questions are further ordinary messages.
//
//go:embed handoff/*.jsonl
var handoffFiles embed.FS

// Classes of the model: class 0 is an ordinary message; the others are a
// request for a person and the urgent kinds.
const (
	handoffNone   = "none"
	handoffPerson = "person"
)

type handoffModel struct {
	classes []string
	index   map[string]int32 // feature → row
	w       []float64        // rows × classes
	b       []float64
}

// handoffFeatures are the folded words, word pairs (with the start and end
// of the message) and the 4-letter pieces of words of five letters or more,
// which carry a typo ("encrgado") or another form ("managers").
func handoffFeatures(text string) []string {
	ws := strings.Fields(fold(text))
	out := make([]string, 0, 4*len(ws)+2)
	prev := "^"
	for _, w := range ws {
		out = append(out, "w:"+w, "b:"+prev+" "+w)
		prev = w
		if r := []rune(w); len(r) >= 5 {
			for i := 0; i+4 <= len(r); i++ {
				out = append(out, "c:"+string(r[i:i+4]))
			}
		}
	}
	out = append(out, "b:"+prev+" $")
	slices.Sort(out)
	return slices.Compact(out)
}

type handoffSample struct {
	rows  []int32
	class int
}

// vector returns the rows of the message's known features.
func (m *handoffModel) vector(text string) []int32 {
	var rows []int32
	for _, f := range handoffFeatures(text) {
		if r, ok := m.index[f]; ok {
			rows = append(rows, r)
		}
	}
	return rows
}

// probabilities returns each class's probability (softmax); each of n
// features counts 1/√n, so that a long message is not surer than a short
// one.
func (m *handoffModel) probabilities(rows []int32) []float64 {
	k := len(m.classes)
	z := slices.Clone(m.b)
	if len(rows) > 0 {
		s := 1 / math.Sqrt(float64(len(rows)))
		for _, r := range rows {
			for c := range k {
				z[c] += s * m.w[int(r)*k+c]
			}
		}
	}
	mx := slices.Max(z)
	var sum float64
	for c := range z {
		z[c] = math.Exp(z[c] - mx)
		sum += z[c]
	}
	for c := range z {
		z[c] /= sum
	}
	return z
}

// trainHandoff fits a softmax regression with L2 decay by stochastic
// gradient descent in a fixed order, so the same examples give the same
// model.
func trainHandoff(texts []string, labels []string) *handoffModel {
	m := &handoffModel{classes: []string{handoffNone}, index: map[string]int32{}}
	cls := map[string]int{handoffNone: 0}
	var samples []handoffSample
	for i, t := range texts {
		c, ok := cls[labels[i]]
		if !ok {
			c = len(m.classes)
			cls[labels[i]] = c
			m.classes = append(m.classes, labels[i])
		}
		var rows []int32
		for _, f := range handoffFeatures(t) {
			r, ok := m.index[f]
			if !ok {
				r = int32(len(m.index))
				m.index[f] = r
			}
			rows = append(rows, r)
		}
		samples = append(samples, handoffSample{rows: rows, class: c})
	}
	k := len(m.classes)
	m.w = make([]float64, len(m.index)*k)
	m.b = make([]float64, k)
	rng := rand.New(rand.NewPCG(11, 17))
	const epochs, lambda = 30, 1e-4
	for ep := range epochs {
		rate := 0.5 / (1 + 0.2*float64(ep))
		rng.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
		for _, s := range samples {
			p := m.probabilities(s.rows)
			p[s.class]--
			sc := 1 / math.Sqrt(float64(len(s.rows)))
			for c := range k {
				m.b[c] -= rate * p[c]
			}
			for _, r := range s.rows {
				for c := range k {
					i := int(r)*k + c
					m.w[i] -= rate * (sc*p[c] + lambda*m.w[i])
				}
			}
		}
	}
	return m
}

// handoffLabel is the class the rules give a message labelled for a
// person: the urgent kind they find, or a request for a person. Messages
// the rules do not explain are requests for a person.
func handoffLabel(text string) string {
	if k, _ := urgentCase(text); k != nil && !asksAbout(k, text) {
		return k.name
	}
	if typ, question := sensitiveType(text); typ != "" && !question && !asks(text) {
		return string(typ)
	}
	return handoffPerson
}

// writtenKinds are the kinds the writers of the examples gave, as the
// model's classes: the rules' kind comes first when they find one.
var writtenKinds = map[string]string{"person": handoffPerson, "fraud": "fraud", "takeover": "takeover", "safety": "emergency", "legal": "legal", "complaint": "formal-complaint", "abuse": "abuse"}

var (
	handoffOnce sync.Once
	handoff     *handoffModel
)

// learnedHandoff returns the model, trained once per process.
func learnedHandoff() *handoffModel {
	handoffOnce.Do(func() {
		texts, labels := handoffTraining()
		handoff = trainHandoff(texts, labels)
	})
	return handoff
}

func handoffTraining() (texts, labels []string) {
	files, _ := fs.Glob(handoffFiles, "handoff/*.jsonl")
	var rs []io.Reader
	for _, f := range files {
		data, _ := handoffFiles.ReadFile(f)
		rs = append(rs, bytes.NewReader(data))
	}
	sc := bufio.NewScanner(io.MultiReader(rs...))
	for sc.Scan() {
		var q struct{ Q, Want, Kind string }
		if json.Unmarshal(sc.Bytes(), &q) != nil || q.Q == "" {
			continue
		}
		label := handoffNone
		if q.Want == "human" {
			label = handoffLabel(q.Q)
			if k, ok := writtenKinds[q.Kind]; ok && label == handoffPerson {
				label = k
			}
		}
		texts, labels = append(texts, q.Q), append(labels, label)
	}
	if entries, err := faq.Builtin(); err == nil {
		for _, e := range entries {
			if e.IsInternal() {
				continue
			}
			for _, q := range e.Questions {
				texts, labels = append(texts, q), append(labels, handoffNone)
			}
		}
	}
	return texts, labels
}

// handoffGuess is what the model makes of a message: the most likely
// class other than an ordinary message (its row in classes) and the
// probability that the message is not an ordinary one.
type handoffGuess struct {
	class int
	p     float64
}

func (m *handoffModel) guess(text string) handoffGuess {
	p := m.probabilities(m.vector(text))
	best := 1
	for c := 2; c < len(p); c++ {
		if p[c] > p[best] {
			best = c
		}
	}
	return handoffGuess{class: best, p: 1 - p[0]}
}

// weighing returns the message's words (other than stop words) that weigh
// most for class against an ordinary message, at most three, for the
// ticket's reason.
func (m *handoffModel) weighing(text string, class int) []string {
	k := len(m.classes)
	type ww struct {
		w string
		v float64
	}
	var top []ww
	for _, w := range strings.Fields(fold(text)) {
		if knowledge.IsStopWord(w) || slices.ContainsFunc(top, func(t ww) bool { return t.w == w }) {
			continue
		}
		if r, ok := m.index["w:"+w]; ok {
			if v := m.w[int(r)*k+class] - m.w[int(r)*k]; v > 0 {
				top = append(top, ww{w, v})
			}
		}
	}
	sort.SliceStable(top, func(i, j int) bool { return top[i].v > top[j].v })
	var out []string
	for _, t := range top[:min(3, len(top))] {
		out = append(out, t.w)
	}
	return out
}

// Below handoffMaybe the model says nothing; from it, a message the
// articles do not answer goes to a person instead of being declined. From
// handoffSure an urgent case goes to a person before any search, and any
// other case unless an article answers it at handoffOverrule or more: a
// voice assistant's "turn the volume up, please" reads like "a human,
// please" to the model, but its knowledge base knows it.
const (
	handoffMaybe    = 0.6
	handoffSure     = 0.85
	handoffOverrule = 0.9
)

// learnedCase is what the model makes of a message the rules say nothing
// of: the urgent kind it looks like (nil for a request for a person), the
// request type, and why, in words an agent reads on the ticket.
type learnedCase struct {
	kind   *urgentKind
	reason escalation.Reason
	typ    escalation.Type
	why    string
	sure   bool
}

// now reports whether the case goes to a person before any search.
func (lc *learnedCase) now() bool { return lc.sure && lc.kind != nil && lc.kind.urgent }

// keeps reports whether the articles' decision stands instead of a person.
func (lc *learnedCase) keeps(d Decision) bool {
	if lc.sure {
		return d.Decision == Answer && len(d.Hits) > 0 && d.Hits[0].Confidence >= handoffOverrule
	}
	return d.Decision != Decline
}

// learnCase returns the model's case for text, or nil.
func learnCase(text string) *learnedCase {
	m := learnedHandoff()
	g := m.guess(text)
	if g.p < handoffMaybe {
		return nil
	}
	kind := m.classes[g.class]
	lc := &learnedCase{reason: escalation.ReasonSensitive, sure: g.p >= handoffSure}
	switch {
	case kind == handoffPerson:
		lc.reason = escalation.ReasonRequested
	case escalation.Type(kind).Sensitive():
		lc.typ = escalation.Type(kind)
	default:
		for i := range urgentKinds {
			if urgentKinds[i].name == kind {
				lc.kind, lc.typ = &urgentKinds[i], urgentKinds[i].typ
			}
		}
		if lc.kind == nil {
			return nil
		}
		if asksAbout(lc.kind, text) {
			lc.sure = false
		}
	}
	lc.why = kind + " (learned"
	if words := m.weighing(text, g.class); len(words) > 0 {
		lc.why += ": «" + strings.Join(words, "», «") + "»"
	}
	lc.why += ")"
	return lc
}
