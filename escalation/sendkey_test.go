package escalation

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ayuda/bots"
)

// Send sees a key for the message it delivers: the same on every attempt
// at that message, after a restart too, and another for every other
// message, even one with the same text to the same person, and even in a
// store started afresh that numbers its messages from 1 again.
func TestSendKey(t *testing.T) {
	if k := SendKey(context.Background()); k != "" {
		t.Errorf("SendKey outside a delivery = %q, want none", k)
	}
	q, clk, path := setup(t)
	ctx := t.Context()
	for _, text := range []string{"uno", "uno", "dos"} {
		if err := q.Enqueue(ctx, maria, bots.Reply{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string // one per attempt, in order
	failures := 2
	s := SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error {
		keys = append(keys, SendKey(ctx))
		if failures > 0 {
			failures--
			return errors.New("timeout: the platform may have it")
		}
		return nil
	})
	deliver(t, q, s)
	clk.add(time.Minute)
	q.Close() // a restart between the attempts
	q = open(t, path, clk)
	defer q.Close()
	deliver(t, q, s)
	clk.add(time.Minute)
	deliver(t, q, s)
	if len(keys) != 5 {
		t.Fatalf("attempts = %d (%q), want 5: the first message three times, then the others", len(keys), keys)
	}
	if keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Errorf("keys of one message's attempts = %q, want one key, the same each time", keys[:3])
	}
	if slices.Contains(keys[:3], keys[3]) || keys[3] == keys[4] || keys[3] == "" || keys[4] == "" {
		t.Errorf("keys = %q, want a different one for each message", keys)
	}

	// A fresh store numbers its messages from 1 again, later.
	clk.add(time.Second)
	fresh := open(t, filepath.Join(t.TempDir(), "ayuda.db"), clk)
	defer fresh.Close()
	if err := fresh.Enqueue(ctx, maria, bots.Reply{Text: "uno"}); err != nil {
		t.Fatal(err)
	}
	deliver(t, fresh, s)
	if last := keys[len(keys)-1]; len(keys) != 6 || last == keys[0] {
		t.Errorf("the fresh store's first message has key %q, the old one's was %q: want different", last, keys[0])
	}
}
