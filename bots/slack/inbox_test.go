package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"ayuda/dialog"
	"ayuda/escalation"
)

// fillInbox writes n handled envelopes into st's inbox, as a busy hour
// leaves it: the most the inbox keeps.
func fillInbox(tb testing.TB, st State, n int) {
	tb.Helper()
	now := time.Now()
	for i := range n {
		e := envelope{Key: fmt.Sprintf("ev:Old%d", i), Env: fmt.Sprintf("old-%d", i), Type: typeEvents, Route: "C1/", At: now.Add(-time.Duration(n-i) * time.Millisecond), Done: true}
		data, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.PutMeta(context.Background(), inboxPrefix+e.Key, data); err != nil {
			tb.Fatal(err)
		}
	}
}

// Slack re-sends an envelope not acknowledged within 3 s. With the inbox
// full (maxDone handled envelopes) and events arriving at 60 a second,
// every one is still acknowledged within those 3 s, and the inbox stays
// at its cap. 3 s is Slack's deadline, not a speed target: an ack costs a
// few milliseconds here, so only an ack whose cost grows with the inbox
// (as when the whole inbox was rewritten for each) comes near it.
func TestFullInboxAcksInTime(t *testing.T) {
	h := newHarness(t, nil)
	h.stopBot()
	fillInbox(t, h.q, maxDone)
	h.startBot()
	const events = 300
	var envs []string
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	for i := range events {
		<-tick.C
		ts := h.newTS()
		env, _ := h.event(map[string]any{"type": "message", "channel": "CGENERAL", "channel_type": "channel",
			"user": staff, "text": fmt.Sprintf("mensaje %d", i), "ts": ts, "event_ts": ts})
		envs = append(envs, env)
	}
	for _, env := range envs {
		h.f.waitAcked(env)
	}
	h.f.mu.Lock()
	var lags []time.Duration
	late := 0
	for _, env := range envs {
		lag := h.f.ackedAt[env].Sub(h.f.sentAt[env])
		lags = append(lags, lag)
		if lag >= 3*time.Second {
			late++
		}
	}
	h.f.mu.Unlock()
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("ack after sending: p50 %v, p99 %v, max %v", lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])
	if late > 0 {
		t.Errorf("%d of %d envelopes acknowledged after Slack's 3 s (Slack sends them again)", late, events)
	}
	h.stopBot()
	kept := 0
	if err := h.q.ScanMeta(t.Context(), inboxPrefix, func(string, []byte) error { kept++; return nil }); err != nil {
		t.Fatal(err)
	}
	if kept > maxDone+pruneBatch {
		t.Errorf("the inbox keeps %d records, want at most %d", kept, maxDone+pruneBatch)
	}
}

// An inbox kept as one record (before a record per envelope) is moved on
// load: its unfinished envelopes are still replayed, its handled ones
// still drop re-deliveries, and the old record is gone.
func TestLegacyInboxMoved(t *testing.T) {
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{Notify: dialog.Notifier()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	old := []*envelope{{Key: "ev:A", Env: "e1", Type: typeEvents, At: time.Now(), Done: true},
		{Key: "ev:B", Env: "e2", Type: typeEvents, Payload: json.RawMessage(`{}`), At: time.Now()}}
	data, _ := json.Marshal(old)
	if err := q.PutMeta(t.Context(), legacyInbox, data); err != nil {
		t.Fatal(err)
	}
	x := newInbox(q, time.Now)
	if fresh, err := x.add(t.Context(), &envelope{Key: "ev:A", Env: "e9"}); fresh || err != nil {
		t.Errorf("a handled envelope from the old inbox is new again: %v %v", fresh, err)
	}
	if u := x.unfinished(); len(u) != 1 || u[0].Key != "ev:B" {
		t.Errorf("unfinished %v, want ev:B", u)
	}
	if v, _ := q.GetMeta(t.Context(), legacyInbox); v != nil {
		t.Errorf("the old inbox record is still there")
	}
	y := newInbox(q, time.Now)
	if fresh, _ := y.add(t.Context(), &envelope{Key: "ev:B"}); fresh {
		t.Errorf("after the move, an unfinished envelope is new again")
	}
}

// BenchmarkInboxAck is what acknowledging one envelope costs with the
// inbox full: recording it (before the ack) and marking it handled (after
// it is handled), on the real store, one at a time and eight at once.
func BenchmarkInboxAck(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrent=%d", par), func(b *testing.B) {
			q, err := escalation.Open(filepath.Join(b.TempDir(), "ayuda.db"), escalation.Config{Notify: dialog.Notifier()})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			fillInbox(b, q, maxDone)
			x := newInbox(q, time.Now)
			if err := x.load(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(par)
			var n atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := &envelope{Key: fmt.Sprintf("ev:New%d", n.Add(1)), Type: typeEvents, Payload: json.RawMessage(`{"x":1}`)}
					if _, err := x.add(b.Context(), e); err != nil {
						b.Error(err)
					}
					if err := x.done(b.Context(), e); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
