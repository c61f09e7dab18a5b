package knowledge

import "math"

// How a candidate's confidence is computed. Every candidate article gets
// a few signals that mean the same on any knowledge base (how much of the
// question the article's words cover, how close the closest example
// question is, what the classifier says and how much it had to learn
// from, and how far each leads the runner-up), and one logistic function
// of them gives the probability that the article is the answer. Its
// weights were fitted once, on labelled questions of knowledge bases of
// every size (fit_test.go says which, and reproduces them), not on the
// knowledge base at hand: with three example questions per article there
// is nothing to hold out, and a confidence must still mean the same.

// cand is one candidate article for a question.
type cand struct {
	key   string
	score float64 // Bleve's
	lex   lexScore
	clf   float64 // the classifier's probability; 0 without one
	p     float64 // the probability that it is the answer
}

// signals are a candidate's inputs to the decision, in the order of
// decisionWeights.
type signals [nSignals]float64

const (
	sCover = iota
	sExample
	sCoverLead
	sExampleLead
	sBody
	sClf
	sClfLead
	sClfRel
	sClfLeadRel
	sReject
	sBias
	nSignals
)

var signalNames = [nSignals]string{"cover", "example", "cover_lead", "example_lead", "body", "clf", "clf_lead", "clf_rel", "clf_lead_rel", "reject", "bias"}

// decisionWeights are the logistic function's weights (fit_test.go).
var decisionWeights = signals{
	sCover:       1.755,
	sExample:     1.360,
	sCoverLead:   3.083,
	sExampleLead: 1.979,
	sBody:        1.584,
	sClf:         1.301,
	sClfLead:     3.103,
	sClfRel:      0.119,
	sClfLeadRel:  2.082,
	sReject:      -0.959,
	sBias:        -2.841,
}

// reliability is how much a classifier learned from perArticle examples
// per article, from 0 (none) to 1 (a hundred or more).
func reliability(perArticle float64) float64 {
	if perArticle <= 1 {
		return 0
	}
	return min(1, math.Log(perArticle)/math.Log(100))
}

// signalsOf computes every candidate's signals.
func (s *snapshot) signalsOf(cs []cand, lang string, hasClf bool, reject float64) []signals {
	rel := 0.0
	if hasClf {
		rel = reliability(s.perArticle[lang])
	}
	out := make([]signals, len(cs))
	for i, c := range cs {
		var otherCover, otherEx, otherClf float64
		for j, o := range cs {
			if j != i {
				otherCover = max(otherCover, o.lex.cover)
				otherEx = max(otherEx, o.lex.example)
				otherClf = max(otherClf, o.clf)
			}
		}
		x := &out[i]
		x[sCover] = c.lex.cover
		x[sExample] = c.lex.example
		x[sCoverLead] = c.lex.cover - otherCover
		x[sExampleLead] = c.lex.example - otherEx
		x[sBody] = c.lex.body
		x[sClf] = c.clf
		x[sClfLead] = c.clf - otherClf
		x[sClfRel] = c.clf * rel
		x[sClfLeadRel] = (c.clf - otherClf) * rel
		x[sReject] = reject
		x[sBias] = 1
	}
	return out
}

// decide sets every candidate's probability. blend is how much of it is
// the classifier's own calibrated probability (see blendWeight).
func decide(cs []cand, xs []signals, blend float64) {
	for i, x := range xs {
		cs[i].p = combine(decisionWeights, x, cs[i].clf, blend)
	}
}

func combine(w, x signals, clf, blend float64) float64 {
	var z float64
	for j, v := range x {
		z += w[j] * v
	}
	return blend*clf + (1-blend)*sigmoid(z)
}

// blendWeight is how much a classifier calibrated on held-out example
// questions is trusted on its own: not at all with 5 examples per article
// (the fewest that calibrate it), fully from 50. In between the two
// probabilities are mixed, so there is no size at which the decision
// jumps.
func blendWeight(perArticle float64, calibrated bool) float64 {
	if !calibrated {
		return 0
	}
	return min(1, max(0, (perArticle-5)/45))
}
