package dialog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/knowledge"
)

type stack struct {
	q   *escalation.Queue
	eng *dialog.Engine
}

func newStack(t testing.TB) *stack {
	t.Helper()
	return newStackOn(t, sharedIndex(t), t.TempDir())
}

// newStackOn is a fresh store in dir and an engine over idx. Its writes
// commit at once: the tests run one conversation at a time.
func newStackOn(t testing.TB, idx *knowledge.Index, dir string) *stack {
	t.Helper()
	q, err := escalation.Open(filepath.Join(dir, "ayuda.db"), escalation.Config{Agents: []escalation.Agent{{ID: "ana"}}, Notify: dialog.Notifier(), CommitDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	eng, err := dialog.New(dialog.Config{Search: idx, Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{q: q, eng: eng}
}

func tg(user string) bots.Address {
	return bots.Address{Platform: bots.Telegram, Chat: user, User: user}
}

// A platform that re-delivers a message gets the same reply, and nothing
// happens twice.
func TestRedeliveredMessage(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	from := tg("1")
	first := s.eng.Handle(ctx, bots.Message{ID: "tg:1", From: from, Text: "¿dónde está mi pedido?"})
	no := bots.Message{ID: "tg:2", From: from, Text: "no"}
	opened := s.eng.Handle(ctx, no)
	again := s.eng.Handle(ctx, no)
	if again.Text != opened.Text || !strings.Contains(opened.Text, "#1") {
		t.Errorf("re-delivery got %q, want the same receipt %q", again.Text, opened.Text)
	}
	if old := s.eng.Handle(ctx, bots.Message{ID: "tg:1", From: from, Text: "¿dónde está mi pedido?"}); !old.IsZero() {
		t.Errorf("an older duplicate got a reply: %q (first was %q)", old.Text, first.Text)
	}
	ts, err := s.q.List(ctx, escalation.Filter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets: %d %v, want exactly one", len(ts), err)
	}
}

// Hostile or odd input gets a clear answer, is stored safely, and never
// panics.
func TestHostileInput(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	for i, text := range []string{
		strings.Repeat("a", 1<<20),
		"\xff\xfe pedido \xc3",
		"hola\x00\x1b[31m rojo \x07",
		"\u202eodidep im átse ednód\u202c",
		"😀😀😀",
		`+a -b "c ~2 /re/`,
		"<b>negrita</b> *bold* _x_ `code` [link](http://x)",
		"@everyone @here <@123>",
		"",
		"   \n\t ",
	} {
		r := s.eng.Handle(ctx, bots.Message{From: tg(fmt.Sprint("h", i)), Text: text})
		if r.Text == "" {
			t.Errorf("%d: no reply to %.40q", i, text)
		}
		if !utf8.ValidString(r.Text) {
			t.Errorf("%d: reply is not valid UTF-8", i)
		}
	}
	// What is kept of the 1 MB message, once it reaches a ticket, is bounded.
	s.eng.Handle(ctx, bots.Message{From: tg("h0"), Text: "quiero hablar con una persona"})
	ts, err := s.q.List(ctx, escalation.Filter{Customer: tg("h0").Customer()})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	for _, e := range ts[0].Transcript {
		if len(e.Text) > dialog.MaxText+16 {
			t.Errorf("a transcript entry kept %d bytes", len(e.Text))
		}
	}
	if len(ts[0].Summary) > 400 {
		t.Errorf("summary of %d bytes", len(ts[0].Summary))
	}
}

// Many conversations at once, and several messages of one conversation at
// once: turns of one conversation are serialised, none is lost.
func TestConcurrentTurns(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for u := range 20 {
		for m := range 5 {
			wg.Go(func() {
				s.eng.Handle(ctx, bots.Message{ID: fmt.Sprintf("%d-%d", u, m), From: tg(fmt.Sprint(u)), Text: "¿cuánto tarda el envío?"})
			})
		}
	}
	wg.Wait()
	// Each conversation saw its five messages: a sixth "no" finds the last
	// answer's feedback question and opens exactly one ticket per person.
	for u := range 20 {
		r := s.eng.Handle(ctx, bots.Message{ID: fmt.Sprintf("%d-no", u), From: tg(fmt.Sprint(u)), Text: "no"})
		if !strings.Contains(r.Text, "#") {
			t.Fatalf("user %d: %q", u, r.Text)
		}
	}
	ts, _ := s.q.List(ctx, escalation.Filter{})
	if len(ts) != 20 {
		t.Fatalf("%d tickets, want 20", len(ts))
	}
	for _, tk := range ts {
		n := 0
		for _, e := range tk.Transcript {
			if e.Author == escalation.AuthorCustomer {
				n++
			}
		}
		if n != 6 {
			t.Errorf("ticket #%d has %d customer messages, want 6", tk.ID, n)
		}
	}
}

// A staff member sees internal articles; a customer never does, not even
// by pressing a crafted button.
func TestInternalArticles(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	staff := s.eng.Handle(ctx, bots.Message{From: bots.Address{Platform: bots.Slack, Chat: "D1", User: "U1"}, Text: "¿cómo me conecto a la VPN?", Internal: true})
	if !strings.Contains(staff.Text, "VPN") {
		t.Fatalf("staff did not get the internal VPN article: %q", staff.Text)
	}
	for _, text := range []string{"¿cómo me conecto a la VPN?", "kb:vpn-acceso", "kb:politica-reembolsos-interna"} {
		r := s.eng.Handle(ctx, bots.Message{From: tg("9"), Text: text})
		if strings.Contains(r.Text, "Aurora Connect") || strings.Contains(r.Text, "150") {
			t.Errorf("%q leaked an internal article to a customer: %q", text, r.Text)
		}
	}
}

func BenchmarkTurn(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	qs := []string{"¿dónde está mi pedido?", "sí", "how long does shipping take?", "yes", "cuéntame un chiste", "quiero devolver unas zapatillas"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.eng.Handle(ctx, bots.Message{From: tg(fmt.Sprint(i % 100)), Text: qs[i%len(qs)]})
	}
}

func BenchmarkTurnParallel(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	var n sync.Mutex
	user := 0
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		user++
		me := tg(fmt.Sprint("p", user))
		n.Unlock()
		for i := 0; pb.Next(); i++ {
			s.eng.Handle(ctx, bots.Message{From: me, Text: "¿cuánto tarda el envío?"})
		}
	})
}

// BenchmarkTurnBesideFlood is one customer's turn while another floods
// their open ticket with 16 KB messages, 100 a second, 250 of them before
// the clock starts (the audit's 25 MB flood): what one customer costs
// another.
func BenchmarkTurnBesideFlood(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	flooder := tg("flood")
	s.eng.Handle(ctx, bots.Message{From: flooder, Text: "quiero hablar con una persona"})
	if r := s.eng.Handle(ctx, bots.Message{From: flooder, Text: "mi pedido AUR-123456 no llega y nadie me contesta"}); !strings.Contains(r.Text, "#") {
		if ts, _ := s.q.List(ctx, escalation.Filter{Customer: flooder.Customer()}); len(ts) == 0 {
			b.Fatalf("no ticket for the flood: %q", r.Text)
		}
	}
	long := strings.Repeat("pega aquí el registro entero ", 16<<10/29)
	n := 0
	flood := func() {
		n++
		s.eng.Handle(ctx, bots.Message{ID: fmt.Sprint("f", n), From: flooder, Text: fmt.Sprint(n, " ", long)})
	}
	for range 250 {
		flood()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond) // 100 messages a second
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				flood()
			}
		}
	}()
	qs := []string{"¿dónde está mi pedido?", "sí", "how long does shipping take?", "yes"}
	start := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.eng.Handle(ctx, bots.Message{From: tg(fmt.Sprint(i % 50)), Text: qs[i%len(qs)]})
	}
	b.StopTimer()
	close(stop)
	<-done
	// How many of the 100 a second the store kept up with.
	b.ReportMetric(float64(n-250)/time.Since(start).Seconds(), "flood-msgs/s")
}

// A flood from one person gets one polite message and no answers, loses
// nothing, and does not slow anyone else down.
func TestFlood(t *testing.T) {
	idx := sharedIndex(t)
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{Notify: dialog.Notifier()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	eng, err := dialog.New(dialog.Config{Search: idx, Queue: q, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var answered, slowDown, silent int
	for i := range 30 {
		r := eng.Handle(ctx, bots.Message{From: tg("flood"), Text: fmt.Sprintf("¿cuánto tarda el envío? %d", i)})
		switch {
		case strings.Contains(r.Text, "muy rápido"):
			slowDown++
		case r.IsZero():
			silent++
		default:
			answered++
		}
	}
	if answered != 10 || slowDown != 1 || silent != 19 {
		t.Errorf("30 messages at once: %d answered, %d told to slow down, %d silent; want 10, 1, 19", answered, slowDown, silent)
	}
	// A flood that goes on, faster than the limit's refill (10 a second
	// for a minute), is told once, not every time a token comes back.
	answered, slowDown = 0, 0
	for i := range 20 { // the start of it: answered, then told once
		eng.Handle(ctx, bots.Message{From: tg("flood2"), Text: fmt.Sprintf("hola %d", i)})
	}
	for i := range 600 {
		now = now.Add(100 * time.Millisecond)
		r := eng.Handle(ctx, bots.Message{From: tg("flood2"), Text: fmt.Sprintf("spam %d", i)})
		if strings.Contains(r.Text, "muy rápido") {
			slowDown++
		} else if !r.IsZero() {
			answered++
		}
	}
	if slowDown > 0 || answered > 0 {
		t.Errorf("a sustained flood: %d more slow-down messages and %d answers, want none", slowDown, answered)
	}
	if r := eng.Handle(ctx, bots.Message{From: tg("calm"), Text: "¿cuánto tarda el envío?"}); !strings.Contains(r.Text, "envío") {
		t.Errorf("someone else was slowed down: %q", r.Text)
	}
	// Later, the flooder asks for a person: every message is on the ticket.
	now = now.Add(time.Minute)
	r := eng.Handle(ctx, bots.Message{From: tg("flood"), Text: "quiero hablar con una persona, el envío no llega"})
	if !strings.Contains(r.Text, "#1") {
		t.Fatalf("after the flood: %q", r.Text)
	}
	tk, err := q.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		want := fmt.Sprintf("¿cuánto tarda el envío? %d", i)

		found := false
		for _, e := range tk.Transcript {
			found = found || e.Text == want
		}
		if !found {
			t.Errorf("message %q is not on the ticket", want)
		}
	}
}

// The platform's locale is a hint for a first message that does not say
// its language ("ok", "1"); the customer's own words win over it.
func TestLocaleHint(t *testing.T) {
	s := newStack(t)
	r := s.eng.Handle(t.Context(), bots.Message{From: tg("50"), Text: "ok", Locale: "en-GB"})
	es := s.eng.Handle(t.Context(), bots.Message{From: tg("52"), Text: "ok"})
	if r.Text == es.Text || strings.ContainsAny(r.Text, "¿¡ñ") {
		t.Errorf("an English locale's first «ok» got %q (without it: %q), want English", r.Text, es.Text)
	}
	r = s.eng.Handle(t.Context(), bots.Message{From: tg("51"), Text: "¿cuánto tarda un envío a Canarias?", Locale: "en"})
	if !strings.Contains(r.Text, "Plazos") {
		t.Errorf("Spanish words with an English locale got %q, want the Spanish article", r.Text)
	}
}

// lostSave is a store whose next conversation save after a ticket opens is
// lost, as when the process dies between the two writes.
type lostSave struct {
	*escalation.Queue
	opened bool
}

func (l *lostSave) OpenOrJoin(ctx context.Context, t escalation.Ticket) (*escalation.Ticket, error) {
	tk, err := l.Queue.OpenOrJoin(ctx, t)
	l.opened = err == nil
	return tk, err
}

func (l *lostSave) SaveConversation(ctx context.Context, key string, data []byte) error {
	if l.opened {
		l.opened = false
		return nil // "saved", but the process died first
	}
	return l.Queue.SaveConversation(ctx, key, data)
}

// Killed after a ticket opens but before the conversation remembers it,
// the customer's next request joins that ticket instead of opening a
// second one with the same history.
func TestOrphanTicketIsJoined(t *testing.T) {
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{Notify: dialog.Notifier()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	store := &lostSave{Queue: q}
	eng, err := dialog.New(dialog.Config{Search: sharedIndex(t), Queue: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	eng.Handle(ctx, bots.Message{ID: "m1", From: tg("rosa"), Text: "mi pedido AUR-1 llegó roto"})
	if r := eng.Handle(ctx, bots.Message{ID: "m2", From: tg("rosa"), Text: "quiero hablar con una persona"}); !strings.Contains(r.Text, "#1") {
		t.Fatalf("no ticket: %q", r.Text)
	}
	r := eng.Handle(ctx, bots.Message{ID: "m3", From: tg("rosa"), Text: "hola? quiero hablar con una persona ya"})
	ts, _ := q.List(ctx, escalation.Filter{})
	if len(ts) != 1 {
		t.Fatalf("%d tickets for one conversation (reply %q)", len(ts), r.Text)
	}
	found := false
	for _, e := range ts[0].Transcript {
		found = found || strings.Contains(e.Text, "hola? quiero hablar")
	}
	if !found || !strings.Contains(r.Text, "#1") {
		t.Errorf("the next message is not on ticket #1 (reply %q): %+v", r.Text, ts[0].Transcript)
	}
}
