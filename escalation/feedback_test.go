package escalation

import (
	"testing"
	"time"
)

// Feedback per article and the questions that ended in tickets survive a
// restart, and the worst article comes first.
func TestFeedbackStats(t *testing.T) {
	q, clk, path := setup(t)
	ctx := t.Context()
	start := clk.now()
	record := func(customer, question, article, feedback string) {
		t.Helper()
		clk.add(time.Minute)
		a := Answer{Customer: customer, Question: question, Article: article, Lang: "es", At: clk.now()}
		if err := q.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if feedback != "" { // the customer answers "did this solve it?" later
			a.Feedback = feedback
			if err := q.RecordAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	record("a", "¿dónde está mi pedido?", "estado-pedido", "yes")
	record("b", "mi paquete no llega", "estado-pedido", "no")
	record("c", "quiero devolver algo", "devoluciones", "yes")
	record("d", "devolución de rebajas", "devoluciones", "yes")
	record("e", "¿me devolvéis el dinero?", "reembolso", "no")
	record("f", "el reembolso no llega", "reembolso", "no")
	record("g", "algo sin respuesta", "", "")
	for _, s := range []string{"¿Dónde está mi pedido?", "donde esta mi pedido", "quiero hablar con alguien"} {
		clk.add(time.Minute)
		_, err := q.Open(ctx, Ticket{
			Type: Consulta, Priority: Normal, Customer: Customer{Address: maria, Name: "María", Lang: "es"},
			Summary: s, Reason: ReasonNegative, Offered: []Offer{{Article: "estado-pedido", Feedback: "no"}},
			Transcript: []Entry{{Author: AuthorCustomer, Text: s}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	q = open(t, path, clk)
	defer q.Close()

	f, err := q.FeedbackStats(ctx, start, clk.now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Articles) != 3 {
		t.Fatalf("articles %+v, want 3", f.Articles)
	}
	worst := f.Articles[0]
	if worst.Article != "reembolso" || worst.No != 2 || worst.Yes != 0 || worst.NoRate != 1 || len(worst.NoQuestions) != 2 {
		t.Errorf("worst article %+v, want reembolso with 2 no", worst)
	}
	if mid := f.Articles[1]; mid.Article != "estado-pedido" || mid.NoRate != 0.5 || mid.NoQuestions[0] != "mi paquete no llega" {
		t.Errorf("second %+v, want estado-pedido at 0.5", mid)
	}
	if best := f.Articles[2]; best.Article != "devoluciones" || best.Yes != 2 || best.No != 0 {
		t.Errorf("last %+v, want devoluciones with 2 yes", best)
	}
	if len(f.Questions) != 2 {
		t.Fatalf("questions %+v, want 2", f.Questions)
	}
	if top := f.Questions[0]; top.Question != "¿Dónde está mi pedido?" || top.Count != 2 || len(top.Tickets) != 2 || top.Reasons[0] != ReasonNegative {
		t.Errorf("top question %+v, want ¿Dónde está mi pedido? twice", top)
	}
	// Outside the period there is nothing.
	f, err = q.FeedbackStats(ctx, clk.now().Add(time.Hour), clk.now().Add(2*time.Hour))
	if err != nil || len(f.Articles) != 0 || len(f.Questions) != 0 {
		t.Errorf("empty period: %+v, %v", f, err)
	}
}

func TestQuestionKey(t *testing.T) {
	for in, want := range map[string]string{
		"¿Dónde está mi pedido?":   "donde esta mi pedido",
		"  donde   ESTA mi pedido": "donde esta mi pedido",
		"AUR-204518 no llega":      "aur 204518 no llega",
	} {
		if got := questionKey(in); got != want {
			t.Errorf("questionKey(%q) = %q, want %q", in, got, want)
		}
	}
}
