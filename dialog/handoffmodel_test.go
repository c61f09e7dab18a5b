package dialog

import (
	"slices"
	"testing"
)

// TestHandoffModelCrossValidated trains the model on four fifths of its
// examples and asks it about the other fifth, five times: how many of the
// messages a person must take it recognises (from handoffMaybe), and how
// many ordinary ones it takes for such. Measured: 977 of 1,190 (82%) and
// 45 of 2,346 (1.9%).
func TestHandoffModelCrossValidated(t *testing.T) {
	texts, labels := handoffTraining()
	const k = 5
	var pos, neg, found, wrong int
	for fold := range k {
		var tt, tl []string
		for i := range texts {
			if i%k != fold {
				tt, tl = append(tt, texts[i]), append(tl, labels[i])
			}
		}
		m := trainHandoff(tt, tl)
		for i := fold; i < len(texts); i += k {
			p := m.guess(texts[i]).p
			if labels[i] == handoffNone {
				neg++
				if p >= handoffMaybe {
					wrong++
				}
			} else {
				pos++
				if p >= handoffMaybe {
					found++
				}
			}
		}
	}
	t.Logf("recognised %d of %d for a person, %d of %d ordinary taken for one", found, pos, wrong, neg)
	if float64(found) < 0.8*float64(pos) || float64(wrong) > 0.03*float64(neg) {
		t.Errorf("recognised %d of %d (want at least 80%%), %d of %d ordinary (want at most 3%%)", found, pos, wrong, neg)
	}
}

// TestHandoffModelSame: the same examples give the same model, so a
// message is treated the same on every replica and after a restart.
func TestHandoffModelSame(t *testing.T) {
	texts, labels := handoffTraining()
	a, b := trainHandoff(texts, labels), trainHandoff(texts, labels)
	if !slices.Equal(a.w, b.w) || !slices.Equal(a.classes, b.classes) {
		t.Fatal("two trainings on the same examples differ")
	}
}

func TestLearnedCase(t *testing.T) {
	for _, tc := range []struct {
		text string
		kind string // "" for a request for a person, "-" for none
		sure bool
	}{
		{"me abrieron una cuenta con mis datos y ahora me llegan cobros", "fraud", true},
		{"una persona que me entienda porfavor", "", true},
		{"hola, me mude la semana pasada y el pedido que hice antes sigue yendo a la direccion vieja, como la cambio?", "-", false},
		{"cuanto cuesta el envio a canarias", "-", false},
		// Chatter is no request for a person: no ticket for it.
		{"sing me a song", "-", false},
		{"me aburro", "-", false},
		{"who won the super bowl", "-", false},
	} {
		lc := learnCase(tc.text)
		switch {
		case tc.kind == "-":
			if lc != nil {
				t.Errorf("%q: learned %s, want nothing", tc.text, lc.why)
			}
		case lc == nil:
			t.Errorf("%q: nothing learned, want %q", tc.text, tc.kind)
		case tc.kind == "" && lc.kind != nil, tc.kind != "" && (lc.kind == nil || lc.kind.name != tc.kind), lc.sure != tc.sure:
			t.Errorf("%q: learned %s (sure %v), want %q (sure %v)", tc.text, lc.why, lc.sure, tc.kind, tc.sure)
		}
	}
}

// TestLearnedCaseAgainstTheArticles: what the articles say of a message
// the model takes for a person's case.
func TestLearnedCaseAgainstTheArticles(t *testing.T) {
	fraud := &urgentKinds[slices.IndexFunc(urgentKinds, func(k urgentKind) bool { return k.name == "fraud" })]
	answer := func(c float64) Decision { return Decision{Decision: Answer, Hits: []Hit{{ID: "a", Confidence: c}}} }
	for _, tc := range []struct {
		name  string
		lc    learnedCase
		d     Decision
		now   bool
		keeps bool
	}{
		{"sure urgent: before any search", learnedCase{kind: fraud, sure: true}, answer(0.99), true, false},
		{"sure request, an article at 0.95 answers", learnedCase{sure: true}, answer(0.95), false, true},
		{"sure request, an article at 0.7 does not", learnedCase{sure: true}, answer(0.7), false, false},
		{"maybe: an answer stands", learnedCase{}, answer(0.61), false, true},
		{"maybe: a choice stands", learnedCase{}, Decision{Decision: Clarify}, false, true},
		{"maybe: a decline goes to a person", learnedCase{}, Decision{Decision: Decline}, false, false},
		{"maybe urgent: searched first", learnedCase{kind: fraud}, Decision{Decision: Decline}, false, false},
	} {
		if got := tc.lc.now(); got != tc.now {
			t.Errorf("%s: now() = %v", tc.name, got)
		}
		if got := tc.lc.keeps(tc.d); !tc.now && got != tc.keeps {
			t.Errorf("%s: keeps() = %v", tc.name, got)
		}
	}
}

// BenchmarkHandoffTraining is what the first engine of a process pays.
func BenchmarkHandoffTraining(b *testing.B) {
	texts, labels := handoffTraining()
	for b.Loop() {
		trainHandoff(texts, labels)
	}
}

// BenchmarkLearnedCase is what every message the rules say nothing of pays.
func BenchmarkLearnedCase(b *testing.B) {
	learnedHandoff()
	for b.Loop() {
		learnCase("me llego un sms de que hicieron reposicion de mi chip y yo no fui, ya no tengo señal")
	}
}
