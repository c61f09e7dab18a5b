package dialog_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
)

// The questions the bot handles are recorded for the reports: the answer,
// the customer's feedback on it, and what it could not answer.
func TestAnswersAreRecorded(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	from := tg("7")
	for _, text := range []string{"¿dónde está mi pedido?", "sí", "cuéntame un chiste"} {
		s.eng.Handle(ctx, bots.Message{From: from, Text: text})
	}
	got, err := s.q.Answers(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("answers %+v, want the answered one and the unanswered one", got)
	}
	if a := got[0]; a.Article != "estado-pedido" || a.Feedback != "yes" || a.Customer != "telegram:7" || a.Question != "¿dónde está mi pedido?" || a.Lang != "es" {
		t.Errorf("answered: %+v", a)
	}
	if a := got[1]; a.Article != "" || a.Question != "cuéntame un chiste" {
		t.Errorf("unanswered: %+v", a)
	}
}

// A team that assigns by round robin: the receipt says who is on it.
func TestReceiptNamesTheAssignedAgent(t *testing.T) {
	idx := sharedIndex(t)
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{
		Agents: []escalation.Agent{{ID: "ana", Name: "Ana"}},
		Notify: dialog.Notifier(),
		Teams:  []escalation.Team{{Name: "todos", Agents: []string{"ana"}, Assign: escalation.AssignRoundRobin}},
		Routes: []escalation.Route{{Team: "todos"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	eng, err := dialog.New(dialog.Config{Search: idx, Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	r := eng.Handle(t.Context(), bots.Message{From: tg("8"), Text: "quiero hablar con una persona: el pedido AUR-9 llegó roto y es URGENTE"})
	// The customer hears what it is about and who has it; the priority
	// (urgente, on the ticket) is for agents.
	if strings.Contains(r.Text, "prioridad") || !strings.Contains(r.Text, "«quiero hablar con una persona: el pedido AUR-9") || !strings.HasSuffix(r.Text, "Ana está atendiendo tu solicitud #1.") {
		t.Errorf("receipt %q", r.Text)
	}
	tk, err := q.Get(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Assignee != "ana" || tk.Team != "todos" || tk.PriorityReason != "urgency: «urgente»" {
		t.Errorf("ticket %s/%s, priority because %q", tk.Assignee, tk.Team, tk.PriorityReason)
	}
}
