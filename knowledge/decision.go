package knowledge

import "math"

// How a candidate's confidence is computed. Every candidate article gets
// signals that mean the same on any knowledge base (how much of the
// question the article's words and letter pieces cover, how close the
// closest example question is, what the classifier says and how much it
// had to learn from, how far each leads the runner-up), and the decision
// is a choice among the candidates and "none of them": a softmax whose
// "none" scores 0. A calibration map by how much the knowledge base had to
// learn from turns the choice's probability into the chance that the
// article is right. The weights were fitted once, on labelled questions of
// knowledge bases of every size (fit_test.go says which, and reproduces
// them), not on the knowledge base at hand: with three example questions
// per article there is nothing to hold out, and a confidence must still
// mean the same.

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
	sTitle
	sGrams
	sAllGrams
	sBody
	sCoverLead
	sExampleLead
	sRank
	sClf
	sClfRel
	sClfLead
	sHasClf
	sReject
	sUnknown
	sBias
	nSignals
)

var signalNames = [nSignals]string{"sCover", "sExample", "sTitle", "sGrams", "sAllGrams", "sBody", "sCoverLead", "sExampleLead", "sRank", "sClf", "sClfRel", "sClfLead", "sHasClf", "sReject", "sUnknown", "sBias"}

// decisionWeights are the weights of the decision (fit_test.go).
var decisionWeights = signals{
	sCover: 0.790, sExample: 0.831, sTitle: 1.208, sGrams: 1.347, sAllGrams: 1.762, sBody: 2.098, sCoverLead: -0.336, sExampleLead: 0.288, sRank: 1.884,
	sClf: 1.043, sClfRel: 4.654, sClfLead: 0.248, sHasClf: -0.394, sReject: -2.627, sUnknown: -2.190, sBias: -0.394,
}

// reliability is how much a classifier learned from perArticle examples
// per article, from 0 (none) to 1 (a hundred or more).
func reliability(perArticle float64) float64 {
	if perArticle <= 1 {
		return 0
	}
	return min(1, math.Log(perArticle)/math.Log(100))
}

// logit of a probability, bounded.
func logit(p float64) float64 {
	p = min(max(p, 1e-4), 1-1e-4)
	return math.Log(p / (1 - p))
}

// signalsOf computes every candidate's signals. unknown is the share of
// the question's weight in words no article uses.
func (s *snapshot) signalsOf(cs []cand, lang string, hasClf bool, reject, unknown float64) []signals {
	rel := 0.0
	if hasClf {
		rel = reliability(s.perArticle[lang])
	}
	var topScore float64
	for _, c := range cs {
		topScore = max(topScore, c.score)
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
		x[sTitle] = c.lex.title
		x[sGrams] = c.lex.grams
		x[sAllGrams] = c.lex.allGrams
		x[sBody] = c.lex.body
		x[sCoverLead] = c.lex.cover - otherCover
		x[sExampleLead] = c.lex.example - otherEx
		if topScore > 0 {
			x[sRank] = c.score / topScore
		}
		if hasClf {
			x[sClf] = logit(c.clf) / 8
			x[sClfRel] = x[sClf] * rel
			x[sClfLead] = c.clf - otherClf
			x[sHasClf] = 1
		}
		x[sReject] = reject
		x[sUnknown] = unknown
		x[sBias] = 1
	}
	return out
}

// decide sets every candidate's probability: a choice among the
// candidates and "none of them" (whose score is 0), so the probabilities
// of a question's candidates add up to at most 1. blend is how much of
// it is the classifier's own calibrated probability (see blendWeight).
func decide(cs []cand, xs []signals, blend, rel float64) {
	ps := choiceProbs(decisionWeights, xs)
	for i := range cs {
		cs[i].p = calibrate(calibration, blend*cs[i].clf+(1-blend)*ps[i], rel)
	}
}

// calibration maps the choice's probability to the probability that the
// best candidate is right, by how much the knowledge base had to learn from
// (reliability): P = sigmoid((a + c·rel)·logit(p) + b + d·rel). The same
// map for every knowledge base; fitted with the weights (fit_test.go).
var calibration = [4]float64{0.776, 0.255, 0.382, -0.381}

func calibrate(k [4]float64, p, rel float64) float64 {
	return sigmoid((k[0]+k[1]*rel)*logit(p) + k[2] + k[3]*rel)
}

// choiceProbs is the softmax of the candidates' scores against "none".
func choiceProbs(w signals, xs []signals) []float64 {
	zs := make([]float64, len(xs))
	top := 0.0 // the score of "none"
	for i, x := range xs {
		for j, v := range x {
			zs[i] += w[j] * v
		}
		top = max(top, zs[i])
	}
	sum := math.Exp(-top)
	for i := range zs {
		zs[i] = math.Exp(zs[i] - top)
		sum += zs[i]
	}
	for i := range zs {
		zs[i] /= sum
	}
	return zs
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
