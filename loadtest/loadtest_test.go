package loadtest_test

import (
	"testing"
	"time"

	"ayuda/escalation"
	"ayuda/internal/desktest"
	"ayuda/loadtest"
)

// A short run on one replica: customers get their turns, agents answer
// the tickets they open, the burst opens a ticket for each of its
// customers, and the outbox delivers every agent reply once and in order.
func TestShortRun(t *testing.T) {
	q := desktest.Queue(t, escalation.Agent{ID: "a0", Name: "Agent 0"}, escalation.Agent{ID: "a1", Name: "Agent 1"})
	eng := desktest.Engine(t, q)
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
