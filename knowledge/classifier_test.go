package knowledge

import (
	"slices"
	"testing"

	"ayuda/faq"
)

// toy is a small knowledge base of four articles.
func toy() []faq.Entry {
	a := func(id, title string, qs ...string) faq.Entry {
		return faq.Entry{ID: id, Lang: "en", Title: title, Questions: qs, Body: "answer to " + title, Audience: faq.Public}
	}
	return []faq.Entry{
		a("opening-hours", "Opening hours", "when are you open", "what time do you open", "are you open on sunday",
			"what are your hours", "until what time are you open today", "opening times of the shop"),
		a("reset-password", "Reset my password", "I forgot my password", "how do I change my password",
			"I cannot log in, password not working", "reset password", "my password expired", "new password please"),
		a("shipping-cost", "Shipping costs", "how much is shipping", "do you charge for delivery",
			"what does delivery cost", "is shipping free", "shipping price to France", "delivery fees"),
		a("cancel-order", "Cancel an order", "I want to cancel my order", "how do I cancel a purchase",
			"can I still cancel", "stop my order please", "cancel order", "I changed my mind, cancel it"),
	}
}

func TestClassifierDeterministic(t *testing.T) {
	build := func() *Index {
		x, err := New(toy())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		return x
	}
	a, b := build().cur.models["en"].clf, build().cur.models["en"].clf
	if !slices.Equal(a.w, b.w) || !slices.Equal(a.bias, b.bias) || a.a != b.a || a.b != b.b || a.c != b.c {
		t.Fatal("two builds of the same articles trained different models")
	}
	// The order of the articles does not matter either.
	rev := toy()
	slices.Reverse(rev)
	x, err := New(rev)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if c := x.cur.models["en"].clf; !slices.Equal(a.w, c.w) {
		t.Error("the same articles in another order trained a different model")
	}
}

// The classifier learns paraphrases it never saw, through words, word
// pairs and letter pieces, and gives no article a high probability for
// gibberish or for a question about something else.
func TestClassifierLearnsToyKB(t *testing.T) {
	x, err := New(toy())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, tc := range []struct{ q, want string }{
		{"are you open on saturdays", "opening-hours"},
		{"what time do you close", "opening-hours"},
		{"forgot my passwrd", "reset-password"}, // a typo
		{"how much do you charge to ship to Spain", "shipping-cost"},
		{"please cancel the order I placed", "cancel-order"},
	} {
		h := top(t, x, Query{Text: tc.q, Lang: "en"})
		if h.ID != tc.want {
			t.Errorf("%q: got %s (%.2f), want %s", tc.q, h.ID, h.Confidence, tc.want)
		}
	}
	for _, q := range []string{"xqzt vbnm plokij", "zzzz", "qwertyuiop asdfghjkl"} {
		hits, err := x.Search(t.Context(), Query{Text: q, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.Confidence >= 0.3 {
				t.Errorf("gibberish %q: %s with confidence %.2f", q, h.ID, h.Confidence)
			}
		}
	}
}

// Out-of-scope examples (the faq.OutOfScope article) lower the confidence
// of questions like them, and are never a hit themselves.
func TestOutOfScopeExamples(t *testing.T) {
	q := Query{Text: "what time is the football match on sunday", Lang: "en"}
	plain, err := New(toy())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	before := top(t, plain, q)
	oos := faq.Entry{ID: faq.OutOfScope, Lang: "en", Audience: faq.Public, Questions: []string{
		"who won the football match", "when is the next match on tv", "what time does the game start",
		"tell me the football results", "is there a match on sunday", "who plays on saturday"}}
	x, err := New(append(toy(), oos))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	hits, err := x.Search(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.ID == faq.OutOfScope {
			t.Fatal("the out-of-scope examples came back as a hit")
		}
	}
	if len(hits) > 0 && hits[0].Confidence >= before.Confidence {
		t.Errorf("confidence with out-of-scope examples %.2f, without %.2f: want lower", hits[0].Confidence, before.Confidence)
	}
	if _, ok := x.Entry(faq.OutOfScope, "en"); ok || x.Len() != len(toy()) {
		t.Errorf("the out-of-scope examples are listed as an article (len %d)", x.Len())
	}
	if h := top(t, x, Query{Text: "when do you open on sunday", Lang: "en"}); h.ID != "opening-hours" || h.Confidence < 0.5 {
		t.Errorf("in-scope question after out-of-scope examples: %s %.2f", h.ID, h.Confidence)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"Devolución": "devolucion", "CAÑA": "cana", "plain": "plain"} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFitPlatt(t *testing.T) {
	// Scores above 0 are right, below are wrong, with some overlap: the fit
	// gives a rising sigmoid with its middle near 0.
	var s, cov []float64
	var right []bool
	for i := -20; i <= 20; i++ {
		x := float64(i) / 4
		s = append(s, x)
		cov = append(cov, 1)
		right = append(right, i > 0 || i%3 == 0)
	}
	a, c, b := fitPlatt(s, cov, right, 1)
	if a <= 0 || a > maxSlope {
		t.Errorf("slope %v, want in (0, %v]", a, maxSlope)
	}
	if p := sigmoid(a*3 + c + b); p < 0.8 {
		t.Errorf("P(right | 3) = %.2f, want high", p)
	}
	if p := sigmoid(a*-3 + c + b); p > 0.4 {
		t.Errorf("P(right | -3) = %.2f, want low", p)
	}
}
