package escalation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ayuda/bots"
	"ayuda/escalation/store"
	"ayuda/escalation/store/pgstore"
	"ayuda/internal/pgtest"
)

// replicas opens n queues on one PostgreSQL schema, as n ayuda replicas
// would.
func replicas(t *testing.T, n int) ([]*Queue, string) {
	t.Helper()
	schema := pgtest.Schema(t)
	var qs []*Queue
	for range n {
		q, err := OpenDatabase(t.Context(), pgtest.URL(), schema, Config{Agents: []Agent{{ID: "ana", Name: "Ana"}}, Notify: notices})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		qs = append(qs, q)
	}
	return qs, schema
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("after 10 s: %s", what)
}

// What an agent does on one replica reaches the watchers (the Slack desk,
// the inbox) of another, each event once and in order, and so do the
// deliveries of what it owes the customer.
func TestReplicasSeeEachOthersChanges(t *testing.T) {
	qs, _ := replicas(t, 2)
	a, b := qs[0], qs[1]
	var mu sync.Mutex
	var seen []string
	var delivered []ID
	b.Watch(func(c Change) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("#%d %s", c.Ticket.ID, c.Event.What))
		mu.Unlock()
	})
	b.WatchDeliveries(func(d Delivery) {
		mu.Lock()
		delivered = append(delivered, d.Message.Ticket)
		mu.Unlock()
	})
	tk := newTicket(t, a, maria)
	if _, err := a.Claim(t.Context(), tk.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reply(t.Context(), tk.ID, "ana", "Ya lo miro."); err != nil {
		t.Fatal(err)
	}
	got, _ := a.Get(t.Context(), tk.ID)
	var want []string
	for _, ev := range got.Events {
		want = append(want, fmt.Sprintf("#%d %s", tk.ID, ev.What))
	}
	eventually(t, "replica B's watcher sees every event of replica A's ticket", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= len(want)
	})
	time.Sleep(200 * time.Millisecond) // and no more
	mu.Lock()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("replica B saw\n%v\nwant\n%v", seen, want)
	}
	mu.Unlock()
	sent := SenderFunc(func(context.Context, bots.Address, bots.Reply) error { return nil })
	if _, err := a.DispatchOnce(t.Context(), sent); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replica B hears of the deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) > 0 && delivered[0] == tk.ID
	})
}

// A role has one owner among the replicas at every moment; when the
// owner's connection to the database dies, another takes over within
// seconds, and the old one has stopped by then.
func TestLeadHasOneOwner(t *testing.T) {
	qs, schema := replicas(t, 3)
	var running, most, runs atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Go(func() {
			q.Lead(ctx, "watchdog", func(ctx context.Context) error {
				n := running.Add(1)
				runs.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond) // stopping takes a moment
				running.Add(-1)
				return nil
			})
		})
	}
	eventually(t, "one replica leads", func() bool { return runs.Load() == 1 })
	for i := 2; i <= 4; i++ {
		// The owner's session dies, as when its machine does, at any
		// moment of the others' tries to take over.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		terminateLeader(t, schema)
		eventually(t, "another replica leads", func() bool { return runs.Load() == int32(i) })
	}
	cancel()
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d replicas led at once", most.Load())
	}
}

// terminateLeader ends the session that holds the watchdog's leadership
// on the test's schema.
func terminateLeader(t *testing.T, schema string) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	var n int
	err = c.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a
		WHERE a.application_name = $1 AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`,
		pgstore.LeaderName(schema, "watchdog")).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d sessions lead the watchdog, want 1", n)
	}
}

// A conversation's turn on one replica waits for its turn on another.
func TestConversationLockAcrossReplicas(t *testing.T) {
	qs, _ := replicas(t, 2)
	unlock, err := qs[0].LockConversation(t.Context(), "telegram/1/1")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u, err := qs[1].LockConversation(context.Background(), "telegram/1/1")
		if err == nil {
			u()
		}
		close(got)
	}()
	other, err := qs[1].LockConversation(t.Context(), "telegram/2/2")
	if err != nil {
		t.Fatal(err)
	}
	other()
	select {
	case <-got:
		t.Fatal("two replicas held one conversation's lock")
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the lock was not handed over")
	}
}

// On a shared store the dispatcher's records that come while one is being
// written go in one transaction; one that fails fails alone, and the
// others are stored.
func TestRecordsTogether(t *testing.T) {
	qs, _ := replicas(t, 1)
	q := qs[0]
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			errs[i] = q.record(t.Context(), func(tx store.Tx) error {
				if i == 7 {
					return boom
				}
				return tx.Bucket(bMeta).Put([]byte(fmt.Sprint("record-", i)), []byte("ok"))
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		v, gerr := q.GetMeta(t.Context(), fmt.Sprint("record-", i))
		if gerr != nil {
			t.Fatal(gerr)
		}
		switch {
		case i == 7 && (!errors.Is(err, boom) || v != nil):
			t.Errorf("the failing record: %v, stored %q; want boom and nothing", err, v)
		case i != 7 && (err != nil || string(v) != "ok"):
			t.Errorf("record %d: %v, stored %q; want it stored", i, err, v)
		}
	}
}
