package dialog

import (
	"slices"
	"testing"
)

// TestHandoffModelCrossValidated trains the model on four fifths of its
// examples and asks it about the other fifth, five times: how many of the
// messages a person must take it recognises (from handoffMaybe), and how
// many ordinary ones it takes for such. Measured: 596 of 790 (75%) and 35
// of 1,446 (2.4%).
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
	if float64(found) < 0.72*float64(pos) || float64(wrong) > 0.03*float64(neg) {
		t.Errorf("recognised %d of %d (want at least 72%%), %d of %d ordinary (want at most 3%%)", found, pos, wrong, neg)
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
