package escalation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"ayuda/bots"
	"ayuda/escalation/store"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// notices words notices plainly, so tests can read what the customer got.
func notices(n Notice) bots.Reply {
	r := bots.Reply{Text: fmt.Sprintf("%s #%d %s %s", n.Kind, n.Ticket.ID, n.Agent.Name, n.Text)}
	if n.Kind == NoticeCompleted {
		r.Choices = []bots.Choice{{ID: "yes", Label: "Yes"}}
	}
	return r
}

func open(t testing.TB, path string, clk *fakeClock) *Queue {
	t.Helper()
	q, err := openQ(t, path, Config{
		Agents: []Agent{{ID: "ana", Name: "Ana", Privacy: true}, {ID: "luis", Name: "Luis"}},
		Notify: notices,
		Now:    clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func setup(t testing.TB) (*Queue, *fakeClock, string) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "ayuda.db")
	q := open(t, path, clk)
	t.Cleanup(func() { q.Close() })
	return q, clk, path
}

var maria = bots.Address{Platform: "telegram", Chat: "100", User: "100"}

func newTicket(t testing.TB, q *Queue, to bots.Address) *Ticket {
	t.Helper()
	tk, err := q.Open(context.Background(), Ticket{
		Type: Consulta, Priority: Normal, Customer: Customer{Address: to, Name: "María", Lang: "es"},
		Summary: "no llega", Reason: ReasonNegative,
		Transcript: []Entry{{Author: AuthorCustomer, Text: "¿dónde está mi pedido?"}, {Author: AuthorBot, Text: "…"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// recorder is a Sender that records what it delivered.
type recorder struct {
	mu   sync.Mutex
	got  []string
	fail func(to bots.Address, r bots.Reply) error
}

func (r *recorder) Send(ctx context.Context, to bots.Address, rep bots.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(to, rep); err != nil {
			return err
		}
	}
	r.got = append(r.got, to.Chat+": "+rep.Text)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func deliver(t *testing.T, q *Queue, s Sender) {
	t.Helper()
	if _, err := q.DispatchOnce(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLifecycle(t *testing.T) {
	q, clk, _ := setup(t)
	ctx := t.Context()
	rec := &recorder{}
	tk := newTicket(t, q, maria)
	if tk.ID != 1 || tk.Status != New || !tk.FirstResponseDue.Equal(clk.now().Add(8*time.Hour)) {
		t.Fatalf("opened %+v", tk)
	}
	steps := []struct {
		do   func() (*Ticket, error)
		want Status
		told string
	}{
		{func() (*Ticket, error) { return q.Claim(ctx, tk.ID, "ana") }, Assigned, "100: claimed #1 Ana "},
		{func() (*Ticket, error) { return q.Reply(ctx, tk.ID, "ana", "Sale hoy") }, InProgress, "100: reply #1 Ana Sale hoy"},
		{func() (*Ticket, error) { return q.SetStatus(ctx, tk.ID, "ana", Waiting) }, Waiting, "100: waiting #1 Ana "},
		{func() (*Ticket, error) {
			return q.CustomerMessage(ctx, tk.ID, Entry{Text: "es el AUR-1", MessageID: "m1"})
		}, InProgress, ""},
		{func() (*Ticket, error) { return q.SetStatus(ctx, tk.ID, "ana", Completed) }, Completed, "100: completed #1 Ana "},
		{func() (*Ticket, error) { return q.Reopen(ctx, tk.ID, Entry{Text: "sigue sin llegar"}) }, Reopened, ""},
		{func() (*Ticket, error) { return q.SetStatus(ctx, tk.ID, "ana", Completed) }, Completed, "100: completed #1 Ana "},
		{func() (*Ticket, error) { return q.Accept(ctx, tk.ID) }, Closed, ""},
	}
	for i, s := range steps {
		clk.add(time.Minute)
		got, err := s.do()
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got.Status != s.want {
			t.Fatalf("step %d: status %s, want %s", i, got.Status, s.want)
		}
		deliver(t, q, rec)
		told := rec.take()
		if (s.told == "" && len(told) != 0) || (s.told != "" && !equal(told, []string{s.told})) {
			t.Errorf("step %d: customer was told %q, want %q", i, told, s.told)
		}
	}
	final, err := q.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.FirstResponse.IsZero() || final.Closed.IsZero() || final.Reopens != 1 || len(final.Transcript) != 5 {
		t.Errorf("final ticket: first response %v, closed %v, reopens %d, transcript %d entries", final.FirstResponse, final.Closed, final.Reopens, len(final.Transcript))
	}
	if _, err := q.Reply(ctx, tk.ID, "ana", "¿algo más?"); !errors.Is(err, ErrTransition) {
		t.Errorf("reply on a closed ticket: got %v, want ErrTransition", err)
	}
}

func TestInvalidTransitions(t *testing.T) {
	q, _, _ := setup(t)
	tk := newTicket(t, q, maria)
	for _, to := range []Status{Closed, Reopened} {
		if _, err := q.SetStatus(t.Context(), tk.ID, "ana", to); !errors.Is(err, ErrTransition) {
			t.Errorf("new → %s: got %v, want ErrTransition", to, err)
		}
	}
	if _, err := q.Accept(t.Context(), tk.ID); !errors.Is(err, ErrTransition) {
		t.Errorf("accepting a new ticket: got %v", err)
	}
	if _, err := q.Get(t.Context(), 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing ticket: got %v", err)
	}
}

// Only configured agents act, and a claimed ticket is not taken silently.
func TestAgents(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	tk := newTicket(t, q, maria)
	for name, do := range map[string]func() (*Ticket, error){
		"claim":  func() (*Ticket, error) { return q.Claim(ctx, tk.ID, "mallory") },
		"reply":  func() (*Ticket, error) { return q.Reply(ctx, tk.ID, "mallory", "hi") },
		"note":   func() (*Ticket, error) { return q.Note(ctx, tk.ID, "mallory", "hi") },
		"status": func() (*Ticket, error) { return q.SetStatus(ctx, tk.ID, "mallory", Completed) },
	} {
		if _, err := do(); !errors.Is(err, ErrNotAgent) {
			t.Errorf("%s by a stranger: got %v, want ErrNotAgent", name, err)
		}
	}
	if _, err := q.Claim(ctx, tk.ID, "ANA"); err != nil {
		t.Fatalf("agent ids are case-insensitive: %v", err)
	}
	if _, err := q.Reply(ctx, tk.ID, "ana", "hola"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, tk.ID, "luis"); !errors.Is(err, ErrClaimed) {
		t.Errorf("claiming Ana's ticket: got %v, want ErrClaimed", err)
	}
}

// Only the agent who holds a ticket acts on it; anyone else takes it over
// first, and the takeover, like every action, is in the ticket's events with
// who, when and from which channel.
func TestHeldTicketsNeedTakeover(t *testing.T) {
	q, _, _ := setup(t)
	ctx := WithVia(t.Context(), "api")
	tk := newTicket(t, q, maria)
	if _, err := q.Claim(ctx, tk.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	for name, do := range map[string]func(string) (*Ticket, error){
		"reply":    func(a string) (*Ticket, error) { return q.Reply(ctx, tk.ID, a, "hola") },
		"note":     func(a string) (*Ticket, error) { return q.Note(ctx, tk.ID, a, "ojo") },
		"status":   func(a string) (*Ticket, error) { return q.SetStatus(ctx, tk.ID, a, Waiting) },
		"release":  func(a string) (*Ticket, error) { return q.SetStatus(ctx, tk.ID, a, New) },
		"priority": func(a string) (*Ticket, error) { return q.Classify(ctx, tk.ID, a, "", Alta) },
	} {
		if _, err := do("luis"); !errors.Is(err, ErrClaimed) {
			t.Errorf("%s by luis on ana's ticket: got %v, want ErrClaimed", name, err)
		}
	}
	got, _ := q.Get(ctx, tk.ID)
	if got.Assignee != "ana" || got.Status != Assigned || got.Priority != Normal || len(got.Transcript) != 2 {
		t.Fatalf("refused actions changed the ticket: %s %s %s, %d entries", got.Assignee, got.Status, got.Priority, len(got.Transcript))
	}
	pending, _ := q.Pending(ctx)
	before := len(pending)

	took, err := q.Takeover(WithVia(t.Context(), "slack"), tk.ID, "luis", "Ana está de baja")
	if err != nil {
		t.Fatal(err)
	}
	last := took.Events[len(took.Events)-1]
	if took.Assignee != "luis" || last.What != EventTakenOver || last.Actor != "luis" || last.Detail != "from ana: Ana está de baja" || last.Via != "slack" || last.Time.IsZero() {
		t.Errorf("takeover: assignee %s, last event %+v", took.Assignee, last)
	}
	if pending, _ := q.Pending(ctx); len(pending) != before+1 || !strings.Contains(pending[len(pending)-1].Reply.Text, "Luis") {
		t.Errorf("the customer was not told who answers now: %+v", pending)
	}
	if _, err := q.Reply(ctx, tk.ID, "luis", "Ya lo llevo yo."); err != nil {
		t.Errorf("luis after the takeover: %v", err)
	}
	if _, err := q.Note(ctx, tk.ID, "ana", "sigo"); !errors.Is(err, ErrClaimed) {
		t.Errorf("ana after the takeover: got %v, want ErrClaimed", err)
	}
	got, _ = q.Get(ctx, tk.ID)
	for _, ev := range got.Events[1:] {
		if ev.Via == "" {
			t.Errorf("event without its channel: %+v", ev)
		}
	}
}

// An internal note is stored but never queued for the customer.
func TestNotesStayInternal(t *testing.T) {
	q, _, _ := setup(t)
	tk := newTicket(t, q, maria)
	if _, err := q.Note(t.Context(), tk.ID, "ana", "cliente conflictivo"); err != nil {
		t.Fatal(err)
	}
	pending, err := q.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("a note queued %d messages for the customer: %+v", len(pending), pending)
	}
	got, _ := q.Get(t.Context(), tk.ID)
	if len(got.Public()) != 2 || len(got.Transcript) != 3 {
		t.Errorf("public %d of %d entries; want the note hidden", len(got.Public()), len(got.Transcript))
	}
}

func TestIndexesFollowChanges(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	a := newTicket(t, q, maria)
	b := newTicket(t, q, bots.Address{Platform: "discord", Chat: "7", User: "8"})
	if _, err := q.Claim(ctx, a.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	list := func(f Filter) []ID {
		ts, err := q.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []ID
		for _, t := range ts {
			ids = append(ids, t.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		f    Filter
		want []ID
	}{
		{Filter{}, []ID{b.ID, a.ID}},
		{Filter{Status: []Status{New}}, []ID{b.ID}},
		{Filter{Status: []Status{Assigned}}, []ID{a.ID}},
		{Filter{Assignee: "ana"}, []ID{a.ID}},
		{Filter{Customer: maria.Customer()}, []ID{a.ID}},
		{Filter{Limit: 1}, []ID{b.ID}},
	} {
		if got := list(tc.f); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	c := newTicket(t, q, maria)
	if fmt.Sprint(c.Earlier) != fmt.Sprint([]ID{a.ID}) {
		t.Errorf("earlier tickets of the customer: %v, want [%d]", c.Earlier, a.ID)
	}
}

// A re-delivered message neither opens a second ticket nor repeats a line.
func TestIdempotentInbound(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	tk := Ticket{Customer: Customer{Address: maria}, OpenedBy: "tg:55"}
	first, err := q.Open(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.Open(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID {
		t.Errorf("the same message opened #%d and #%d", first.ID, again.ID)
	}
	for range 2 {
		if _, err := q.CustomerMessage(ctx, first.ID, Entry{Text: "hola", MessageID: "tg:56"}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := q.Get(ctx, first.ID)
	if len(got.Transcript) != 1 {
		t.Errorf("transcript has %d entries, want 1", len(got.Transcript))
	}
}

// Messages to one person keep their order through failures; others are
// not held up; a restart keeps what was not delivered.
// A dispatcher whose ownership of the outbox is not confirmed (a replica
// woken from a pause, store.Held false) sends nothing, and sends what
// waits once it is confirmed again.
func TestDispatchWaitsForItsLease(t *testing.T) {
	q, _, _ := setup(t)
	if err := q.Enqueue(t.Context(), maria, bots.Reply{Text: "hola"}); err != nil {
		t.Fatal(err)
	}
	var held atomic.Bool
	ctx := store.WithLease(t.Context(), held.Load)
	rec := &recorder{}
	if _, err := q.DispatchOnce(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("sent %q without a confirmed lease", got)
	}
	held.Store(true)
	if _, err := q.DispatchOnce(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !equal(got, []string{maria.Chat + ": hola"}) {
		t.Errorf("with the lease confirmed, sent %q", got)
	}
}

func TestOutboxOrderRetryRestart(t *testing.T) {
	q, clk, path := setup(t)
	ctx := t.Context()
	other := bots.Address{Platform: "telegram", Chat: "200", User: "200"}
	for i := 1; i <= 3; i++ {
		if err := q.Enqueue(ctx, maria, bots.Reply{Text: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, other, bots.Reply{Text: "o1"}); err != nil {
		t.Fatal(err)
	}
	down := true
	rec := &recorder{fail: func(to bots.Address, r bots.Reply) error {
		if down && to == maria {
			return errors.New("503 from the platform")
		}
		return nil
	}}
	next, err := q.DispatchOnce(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !equal(got, []string{"200: o1"}) {
		t.Fatalf("while maria's platform is down: delivered %q, want only the other chat's", got)
	}
	if want := clk.now().Add(time.Second); !next.Equal(want) {
		t.Errorf("next retry at %v, want %v (one second of back-off)", next, want)
	}
	// Nothing is due before the back-off passes.
	deliver(t, q, rec)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("retried before the back-off: %q", got)
	}
	// Restart with the messages still queued.
	q.Close()
	q = open(t, path, clk)
	defer q.Close()
	down = false
	clk.add(2 * time.Second)
	deliver(t, q, rec)
	if got := rec.take(); !equal(got, []string{"100: m1", "100: m2", "100: m3"}) {
		t.Fatalf("after the restart: delivered %q, want m1 m2 m3 in order", got)
	}
	deliver(t, q, rec)
	if got := rec.take(); len(got) != 0 {
		t.Errorf("delivered twice: %q", got)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {20, maxBackoff}} {
		if got := backoff(tc.attempts); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

// A delivery that cannot succeed is moved aside and shown on the ticket,
// never silently dropped.
func TestPermanentFailureIsVisible(t *testing.T) {
	q, _, _ := setup(t)
	tk := newTicket(t, q, maria)
	if _, err := q.Reply(t.Context(), tk.ID, "ana", "hola"); err != nil {
		t.Fatal(err)
	}
	deliver(t, q, SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error {
		return bots.Permanent(errors.New("403 bot was blocked by the user"))
	}))
	dead, err := q.Undeliverable(t.Context())
	if err != nil || len(dead) != 1 {
		t.Fatalf("undeliverable: %v %v", dead, err)
	}
	got, _ := q.Get(t.Context(), tk.ID)
	last := got.Transcript[len(got.Transcript)-1]
	if !last.Note || !bytes.Contains([]byte(last.Text), []byte("blocked")) {
		t.Errorf("the ticket does not show the failure: %+v", last)
	}
	if pending, _ := q.Pending(t.Context()); len(pending) != 0 {
		t.Errorf("still pending: %+v", pending)
	}
}

// A terminal customer who is not connected gets their messages when they
// take them, and an unreachable recipient is not counted as failing.
func TestUnreachableThenTake(t *testing.T) {
	q, clk, _ := setup(t)
	ctx := t.Context()
	if err := q.Enqueue(ctx, maria, bots.Reply{Text: "hola"}); err != nil {
		t.Fatal(err)
	}
	deliver(t, q, SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error { return bots.ErrUnreachable }))
	p, _ := q.Pending(ctx)
	if len(p) != 1 || p[0].Attempts != 0 {
		t.Fatalf("pending %+v", p)
	}
	// The longer they are away, the less often it is tried: 1, 2, 4, 8,
	// then every 15 minutes, never more than that.
	var waits []time.Duration
	for i := 0; i < 6; i++ {
		p, _ := q.Pending(ctx)
		clk.add(p[0].NextAt.Sub(clk.now()))
		before := clk.now()
		deliver(t, q, SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error { return bots.ErrUnreachable }))
		p, _ = q.Pending(ctx)
		waits = append(waits, p[0].NextAt.Sub(before))
	}
	if fmt.Sprint(waits) != "[2m0s 4m0s 8m0s 15m0s 15m0s 15m0s]" {
		t.Errorf("waits between tries for an absent recipient: %v", waits)
	}
	got, err := q.Take(ctx, maria)
	if err != nil || len(got) != 1 || got[0].Reply.Text != "hola" {
		t.Fatalf("take: %+v %v", got, err)
	}
	if p, _ := q.Pending(ctx); len(p) != 0 {
		t.Errorf("taken messages still pending: %+v", p)
	}
	// A recipient who never comes back: after 30 days the message is
	// given up on and shown on its ticket, so the outbox does not keep it.
	tk := newTicket(t, q, bots.Address{Platform: "web", Chat: "v-1", User: "v-1"})
	if _, err := q.Reply(ctx, tk.ID, "ana", "¿sigues ahí?"); err != nil {
		t.Fatal(err)
	}
	clk.add(31 * 24 * time.Hour)
	deliver(t, q, SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error { return bots.ErrUnreachable }))
	dead, _ := q.Undeliverable(ctx)
	if len(dead) == 0 || !strings.Contains(dead[len(dead)-1].LastErr, "not reachable for 30 days") {
		t.Fatalf("after 31 days away: undeliverable %+v", dead)
	}
	full, _ := q.Get(ctx, tk.ID)
	if last := full.Transcript[len(full.Transcript)-1]; !last.Note || !strings.Contains(last.Text, "not reachable for 30 days") {
		t.Errorf("the ticket does not say the reply never reached the customer: %+v", last)
	}
}

// A second process gets a clear error instead of waiting forever, and a
// file that is not ours is never overwritten.
func TestLockedAndCorruptFiles(t *testing.T) {
	boltOnly(t)
	_, _, path := setup(t)
	_, err := Open(path, Config{Notify: notices, Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second open: got %v, want ErrLocked", err)
	}
	bad := filepath.Join(t.TempDir(), "ayuda.db")
	junk := bytes.Repeat([]byte("not a database "), 1000)
	if err := os.WriteFile(bad, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad, Config{Notify: notices}); err == nil {
		t.Fatal("opened a corrupt file without complaint")
	}
	after, _ := os.ReadFile(bad)
	if !bytes.Equal(after, junk) {
		t.Error("the corrupt file was changed")
	}
}

func BenchmarkOpenTicket(b *testing.B) {
	q, _, _ := setup(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		to := bots.Address{Platform: "telegram", Chat: fmt.Sprint(i % 1000), User: fmt.Sprint(i % 1000)}
		if _, err := q.Open(ctx, Ticket{Customer: Customer{Address: to}, Summary: "x", Transcript: []Entry{{Text: "hola"}}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenTicketParallel(b *testing.B) {
	q, _, _ := setup(b)
	ctx := context.Background()
	b.SetParallelism(16)
	b.ResetTimer()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			to := bots.Address{Platform: "telegram", Chat: fmt.Sprint(i % 1000), User: fmt.Sprint(i % 1000)}
			if _, err := q.Open(ctx, Ticket{Customer: Customer{Address: to}, Summary: "x", Transcript: []Entry{{Text: "hola"}}}); err != nil {
				b.Error(err)
			}
		}
	})
}

// A customer with a long history: a new ticket lists the latest of it, and
// a re-delivered message still finds the ticket it opened.
func TestLongHistory(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	var last *Ticket
	for i := range 30 {
		tk, err := q.Open(ctx, Ticket{Customer: Customer{Address: maria}, OpenedBy: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		last = tk
	}
	if len(last.Earlier) != maxEarlier || last.Earlier[len(last.Earlier)-1] != last.ID-1 {
		t.Errorf("earlier = %v, want the latest %d", last.Earlier, maxEarlier)
	}
	again, err := q.Open(ctx, Ticket{Customer: Customer{Address: maria}, OpenedBy: "m29"})
	if err != nil || again.ID != last.ID {
		t.Errorf("re-delivered message opened #%d (%v), want #%d", again.ID, err, last.ID)
	}
}

// A customer address with a NUL or another control character never
// reaches the indexes, where "console:lola\x00…" would sort among lola's
// tickets and be taken for hers.
func TestControlCharactersInAddresses(t *testing.T) {
	q, _, _ := setup(t)
	lola := bots.Address{Platform: "console", Chat: "lola", User: "lola"}
	mine := newTicket(t, q, lola)
	for _, user := range []string{"lola\x00\x00\x00\x00\x00\x00\x00\x00\x09", "lola\x1b[2J", "lo\nla"} {
		if _, err := q.Open(t.Context(), Ticket{Customer: Customer{Address: bots.Address{Platform: "console", Chat: user, User: user}}}); !errors.Is(err, ErrBadAddress) {
			t.Errorf("address %q: %v, want ErrBadAddress", user, err)
		}
	}
	ts, err := q.List(t.Context(), Filter{Customer: lola.Customer()})
	if err != nil || len(ts) != 1 || ts[0].ID != mine.ID {
		t.Errorf("lola's tickets: %v %+v", err, ts)
	}
}

// An upstream that echoes the request puts the platform's token in the
// error; what the outbox keeps of it, and the ticket's note when the
// message cannot be delivered, have it redacted.
func TestDeliveryErrorsKeepNoToken(t *testing.T) {
	const tok = "123456:AAE-telegram-token-xyz"
	clk := &fakeClock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	q, err := openQ(t, filepath.Join(t.TempDir(), "ayuda.db"), Config{
		Agents: []Agent{{ID: "ana", Name: "Ana"}}, Notify: notices, Now: clk.now,
		Redact: func(s string) string { return strings.ReplaceAll(s, tok, "[redacted]") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tk := newTicket(t, q, maria)
	if _, err := q.Reply(t.Context(), tk.ID, "ana", "hola"); err != nil {
		t.Fatal(err)
	}
	echo := &recorder{fail: func(bots.Address, bots.Reply) error {
		return errors.New("502 from proxy: POST /bot" + tok + "/sendMessage")
	}}
	deliver(t, q, echo)
	pending, _ := q.Pending(t.Context())
	if len(pending) == 0 || strings.Contains(pending[0].LastErr, tok) || !strings.Contains(pending[0].LastErr, "[redacted]") {
		t.Errorf("the outbox keeps %+v", pending)
	}
	echo.fail = func(bots.Address, bots.Reply) error {
		return bots.Permanent(errors.New("403 forbidden for /bot" + tok + "/sendMessage"))
	}
	clk.add(time.Hour)
	deliver(t, q, echo)
	got, _ := q.Get(t.Context(), tk.ID)
	data, _ := json.Marshal(got)
	if strings.Contains(string(data), tok) || !strings.Contains(string(data), "Could not deliver") {
		t.Errorf("the ticket keeps the token, or no note of the failure: %s", data)
	}
}

// A truncated store, or one with damaged pages, is refused with a clear
// error (and left as it is) instead of crashing the process when bbolt
// reads past the end of its map or panics on a page it cannot parse.
func TestDamagedStoreRefused(t *testing.T) {
	boltOnly(t)
	for name, damage := range map[string]func(data []byte) []byte{
		"truncated": func(data []byte) []byte { return data[:5*4096] },
		"pages overwritten": func(data []byte) []byte {
			out := bytes.Clone(data)
			for i := 2 * 4096; i < len(out); i++ {
				out[i] = byte(i*7 + 3)
			}
			return out
		},
		"random bytes in random pages": func(data []byte) []byte {
			out := bytes.Clone(data)
			r := rand.New(rand.NewPCG(1, 2))
			for range 40 {
				page := 2 + r.IntN(len(out)/4096-2)
				out[page*4096+r.IntN(64)] ^= byte(1 + r.IntN(255)) // in a page's header or first elements
			}
			return out
		},
		"meta pages overwritten": func(data []byte) []byte {
			out := bytes.Clone(data)
			copy(out, bytes.Repeat([]byte{0xff}, 2*4096))
			return out
		},
	} {
		t.Run(name, func(t *testing.T) {
			q, _, path := setup(t)
			for range 80 {
				newTicket(t, q, maria)
			}
			q.Close()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := damage(data)
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			q, err = Open(path, Config{Notify: notices})
			if err == nil && name == "random bytes in random pages" {
				q.Close() // the bytes may have fallen where nothing checks them; what matters is no crash
				return
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "restore it from a backup") {
				t.Errorf("open: %v, want ErrDamaged", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
				t.Error("the damaged file was changed")
			}
		})
	}
}

// Every commit is fsync'd: a store opened without it (bbolt's NoSync)
// would acknowledge messages that a power cut then loses, and no other
// test would notice.
func TestStoreSyncsEveryCommit(t *testing.T) {
	q, _, _ := setup(t)
	if q.boltDB(t).NoSync {
		t.Error("the store commits without fsync (bbolt NoSync)")
	}
}

// One ticket whose record does not decode is skipped and reported: the
// watchdog still serves every other ticket and the report still adds up.
func TestUnreadableTicketIsSkipped(t *testing.T) {
	q, clk, _ := setup(t)
	bad := newTicket(t, q, maria)
	good := newTicket(t, q, bots.Address{Platform: "telegram", Chat: "200", User: "200"})
	if err := q.st.Update(context.Background(), func(tx store.Tx) error {
		return tx.Bucket(bTickets).Put(itob(uint64(bad.ID)), []byte(`{"id": 1, "status": `))
	}); err != nil {
		t.Fatal(err)
	}
	clk.add(72 * time.Hour)
	if err := q.WatchdogOnce(t.Context()); err != nil {
		t.Fatalf("the watchdog stopped on one bad ticket: %v", err)
	}
	if got, _ := q.Get(t.Context(), good.ID); len(got.Events) < 2 {
		t.Errorf("the watchdog did not serve the other ticket: %+v", got.Events)
	}
	r, err := q.Report(t.Context(), clk.now().Add(-30*24*time.Hour), clk.now())
	if err != nil || r.Tickets != 1 {
		t.Errorf("report: %v, %d tickets", err, r.Tickets)
	}
	if d := q.Damaged(); len(d) != 1 || d[bad.ID] == "" {
		t.Errorf("damaged: %v", d)
	}
}

// A wall clock that jumps (NTP, an operator) stops the watchdog from
// acting until it comes back, or until it has stayed where it jumped for an
// hour; small drift does nothing.
func TestWatchdogWaitsOutClockJumps(t *testing.T) {
	var g jumpGuard
	steps := []struct {
		wall, mono time.Duration
		skip       bool
	}{
		{0, 0, false},
		{time.Minute + 2*time.Second, time.Minute, false},        // drift
		{30*24*time.Hour + 2*time.Minute, 2 * time.Minute, true}, // a month ahead
		{30*24*time.Hour + 3*time.Minute, 3 * time.Minute, true},
		{4 * time.Minute, 4 * time.Minute, false},                // back: acts at once
		{30*24*time.Hour + 5*time.Minute, 5 * time.Minute, true}, // ahead again
		{30*24*time.Hour + 64*time.Minute, 64 * time.Minute, true},
		{30*24*time.Hour + 66*time.Minute, 66 * time.Minute, false}, // an hour there: believed
		{30*24*time.Hour + 67*time.Minute, 67 * time.Minute, false},
		{60 * time.Minute, 68 * time.Minute, true}, // and now back is the jump
	}
	for i, s := range steps {
		if skip, why := g.check(s.wall, s.mono); skip != s.skip {
			t.Errorf("step %d (wall %s, monotonic %s): skip %v (%s), want %v", i, s.wall, s.mono, skip, why, s.skip)
		}
	}
}

// A request from the conversation that opened a ticket joins it only while
// it is open and at the same address.
func TestOpenJoinsOnlyItsOwnOpenTicket(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	first := []Entry{{Author: AuthorCustomer, Text: "no llega", Time: at}}
	a, err := q.Open(ctx, Ticket{Customer: Customer{Address: maria}, Transcript: first, OpenedBy: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	more := append(slices.Clone(first), Entry{Author: AuthorCustomer, Text: "¿hola?", Time: at.Add(time.Minute)})
	if b, _ := q.Open(ctx, Ticket{Customer: Customer{Address: maria}, Transcript: more, OpenedBy: "m2"}); b.ID != a.ID || len(b.Transcript) != 2 {
		t.Errorf("the same conversation opened #%d with %d entries, want #%d with 2", b.ID, len(b.Transcript), a.ID)
	}
	other := bots.Address{Platform: "telegram", Chat: "555", User: "555"}
	if c, _ := q.Open(ctx, Ticket{Customer: Customer{Address: other}, Transcript: more, OpenedBy: "m3"}); c.ID == a.ID {
		t.Error("another customer's request joined maria's ticket")
	}
	if _, err := q.SetStatus(ctx, a.ID, "ana", Completed); err != nil {
		t.Fatal(err)
	}
	if d, _ := q.Open(ctx, Ticket{Customer: Customer{Address: maria}, Transcript: more, OpenedBy: "m4"}); d.ID == a.ID {
		t.Error("a request joined a completed ticket")
	}
}

// BenchmarkPeekBusyOutbox is a terminal client's poll while 50,000
// messages wait for other people: the recipient index reads only its own.
func BenchmarkPeekBusyOutbox(b *testing.B) {
	q, _, _ := setup(b)
	parkMany(b, q)
	me := bots.Address{Platform: "console", Chat: "lola", User: "lola"}
	if err := q.Enqueue(b.Context(), me, bots.Reply{Text: "tu respuesta"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if msgs, err := q.Peek(b.Context(), me); err != nil || len(msgs) != 1 {
			b.Fatal(err, len(msgs))
		}
	}
}

// BenchmarkDueBusyOutbox is the dispatcher's look at the outbox while
// 50,000 messages wait for 5,000 people who cannot be reached now: it reads
// only what is due.
func BenchmarkDueBusyOutbox(b *testing.B) {
	q, _, _ := setup(b)
	parkMany(b, q)
	away := SenderFunc(func(context.Context, bots.Address, bots.Reply) error { return bots.ErrUnreachable })
	if _, err := q.DispatchOnce(b.Context(), away); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if due, next, err := q.due(b.Context()); err != nil || len(due) != 0 || next.IsZero() {
			b.Fatal(err, len(due), next)
		}
	}
}

// A store written before the outbox had its recipient index gets one when
// it opens, and nothing waiting is lost.
func TestOutboxIndexBuiltOnOpen(t *testing.T) {
	q, clk, path := setup(t)
	if err := q.Enqueue(t.Context(), maria, bots.Reply{Text: "uno"}); err != nil {
		t.Fatal(err)
	}
	if err := q.boltDB(t).Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bOutboxTo) }); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = open(t, path, clk)
	defer q.Close()
	msgs, err := q.Peek(t.Context(), maria)
	if err != nil || len(msgs) != 1 || msgs[0].Reply.Text != "uno" {
		t.Fatalf("after reopening: %v %+v", err, msgs)
	}
	if err := q.Ack(t.Context(), maria, msgs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := q.Peek(t.Context(), maria); len(msgs) != 0 {
		t.Errorf("acknowledged, still waiting: %+v", msgs)
	}
}

// parkMany puts 50,000 messages for 5,000 other people in q's outbox.
func parkMany(b *testing.B, q *Queue) {
	b.Helper()
	err := q.st.Update(context.Background(), func(tx store.Tx) error {
		for i := range 50000 {
			to := bots.Address{Platform: "console", Chat: fmt.Sprint("parked", i%5000), User: fmt.Sprint("parked", i%5000)}
			if err := enqueue(tx, to, bots.Reply{Text: "hola"}, 0, "message", "", time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// A ticket keeps at most MaxEntryText of each message in line, and says
// how much it did not keep: a flood of long messages cannot make a ticket
// that every change rewrites whole grow without bound.
func TestLongMessagesCappedOnTheTicket(t *testing.T) {
	q, _, _ := setup(t)
	tk := newTicket(t, q, maria)
	long := strings.Repeat("ñ", 50<<10) // 100 KB, two bytes a character
	for range 40 {
		if _, err := q.CustomerMessage(t.Context(), tk.ID, Entry{Text: long}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := q.Get(t.Context(), tk.ID)
	last := got.Transcript[len(got.Transcript)-1].Text
	if len(last) > MaxEntryText+100 || !strings.Contains(last, "more bytes of this message are not kept") || !utf8.ValidString(last) {
		t.Errorf("a 100 KB message kept %d bytes: %q", len(last), last[len(last)-80:])
	}
	data, _ := json.Marshal(got)
	if len(data) > 40*(MaxEntryText+200)+4096 {
		t.Errorf("40 messages of 100 KB make a %d-byte ticket", len(data))
	}
}

// BenchmarkAppendLongTicket adds a message to a ticket that already holds
// 0 or 400 messages of 8 KB (about 3.3 MB of conversation): the record
// keeps the latest in line and the rest apart, so both cost the same
// (before they were kept apart, 400 took 72 ms a message).
func BenchmarkAppendLongTicket(b *testing.B) {
	for _, before := range []int{0, 400} {
		b.Run(fmt.Sprintf("before=%d", before), func(b *testing.B) {
			q, _, _ := setup(b)
			tk := newTicket(b, q, maria)
			long := strings.Repeat("x", 8<<10)
			for range before {
				if _, err := q.CustomerMessage(b.Context(), tk.ID, Entry{Text: long}); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if _, err := q.CustomerMessage(b.Context(), tk.ID, Entry{Text: "¿hola?"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAckShown is a client's poll acknowledging what it already
// acknowledged (the website chat and the terminal do so on every poll).
func BenchmarkAckShown(b *testing.B) {
	q, _, _ := setup(b)
	ctx := context.Background()
	if err := q.Enqueue(ctx, maria, bots.Reply{Text: "hola"}); err != nil {
		b.Fatal(err)
	}
	msgs, _ := q.Peek(ctx, maria)
	if err := q.Ack(ctx, maria, msgs[0].Seq); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := q.Ack(ctx, maria, msgs[0].Seq); err != nil {
			b.Fatal(err)
		}
	}
}
