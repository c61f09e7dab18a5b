package loadtest_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
	"ayuda/loadtest"
)

// A short run on one replica: customers get their turns, agents answer
// the tickets they open, the burst opens a ticket for each of its
// customers, and the outbox delivers every agent reply once and in order.
func TestShortRun(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{
		Notify: dialog.Notifier(), Agents: []escalation.Agent{{ID: "a0", Name: "Agent 0"}, {ID: "a1", Name: "Agent 1"}}, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	entries, err := faq.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := knowledge.New(entries)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	eng, err := dialog.New(dialog.Config{Search: idx, Queue: q, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := loadtest.Run(t.Context(), []loadtest.Replica{{Queue: q, Engine: eng}}, loadtest.Options{
		Customers: 20, Rate: 200, Duration: time.Second, Burst: 20, Progress: t.Output(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Messages == 0 || rep.TicketsOpened < 20 || rep.AgentReplies == 0 || rep.Delivered == 0 {
		t.Errorf("nothing measured: %+v", rep)
	}
	if rep.LostMessages != 0 || rep.Duplicates != 0 || rep.OutOfOrder != 0 {
		t.Errorf("%d lost, %d duplicated, %d out of order", rep.LostMessages, rep.Duplicates, rep.OutOfOrder)
	}
}
