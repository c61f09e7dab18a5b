package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Envelope types, as Socket Mode names them.
const (
	typeEvents      = "events_api"
	typeInteractive = "interactive"
	typeCommand     = "slash_commands"
)

// envelope is one thing Slack sent: an event, an interaction or a slash
// command, with the keys that recognise it when Slack sends it again.
type envelope struct {
	// Key identifies what happened: "ev:<event_id>", "act:<trigger_id>",
	// "cmd:<trigger_id>". A second envelope with a seen Key is a duplicate.
	Key string `json:"key"`
	// Env is the Socket Mode envelope id; a seen one is a duplicate too.
	Env  string `json:"env,omitempty"`
	Type string `json:"type"`
	// Route orders envelopes: those with the same route are handled one
	// after another (one conversation, one thread).
	Route string `json:"route,omitempty"`
	// Payload is what to handle; it is dropped once handled.
	Payload json.RawMessage `json:"payload,omitempty"`
	At      time.Time       `json:"at"`
	Done    bool            `json:"done,omitempty"`
}

// inbox is the durable record of envelopes: those being handled (with
// their payload, replayed by the next Run if this one dies) and those
// handled recently (their keys only, to drop Slack's re-deliveries). Each
// envelope is its own small record in State ("slack:inbox/<key>"), so
// recording one costs the same however many are kept, and concurrent
// records share a commit. It is safe for concurrent use.
type inbox struct {
	st  State
	now func() time.Time

	mu     sync.Mutex // guards everything below
	loaded bool
	byKey  map[string]*envelope
	byEnv  map[string]*envelope
	// pending holds the envelopes not handled yet.
	pending map[string]*envelope
	// handled lists the handled envelopes' keys in the order they were
	// handled, oldest first, for pruning; head is the first still kept.
	handled []string
	head    int
}

const (
	inboxPrefix = "slack:inbox/"
	// legacyInbox is where the inbox was kept as one record, before it
	// was kept a record per envelope; load moves it.
	legacyInbox = "slack:inbox"
	// keepDone is how long a handled envelope's keys are kept: Slack
	// retries an event three times within a few minutes. Beyond it, the
	// dialog engine (message ids) and the queue (ReplyRef) still drop a
	// repeated message.
	keepDone = time.Hour
	// maxDone caps the handled envelopes kept, oldest dropped first.
	maxDone = 2000
	// pruneBatch is how many records one prune deletes at most, so no
	// single envelope pays for a long backlog.
	pruneBatch = 64
)

func newInbox(st State, now func() time.Time) *inbox {
	return &inbox{st: st, now: now, byKey: map[string]*envelope{}, byEnv: map[string]*envelope{}, pending: map[string]*envelope{}}
}

// load reads the inbox from State, once.
func (x *inbox) load(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.loadLocked(ctx)
}

func (x *inbox) loadLocked(ctx context.Context) error {
	if x.loaded {
		return nil
	}
	var all []*envelope
	err := x.st.ScanMeta(ctx, inboxPrefix, func(key string, v []byte) error {
		var e envelope
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		all = append(all, &e)
		return nil
	})
	if err != nil {
		return err
	}
	legacy, err := x.legacy(ctx)
	if err != nil {
		return err
	}
	all = append(all, legacy...)
	sort.Slice(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	for _, e := range all {
		x.index(e)
		if e.Done {
			x.handled = append(x.handled, e.Key)
		}
	}
	x.loaded = true
	return nil
}

// legacy moves an inbox kept as one record into a record per envelope.
func (x *inbox) legacy(ctx context.Context) ([]*envelope, error) {
	data, err := x.st.GetMeta(ctx, legacyInbox)
	if err != nil || len(data) == 0 {
		return nil, err
	}
	var es []*envelope
	if err := json.Unmarshal(data, &es); err != nil {
		return nil, fmt.Errorf("%s: %w", legacyInbox, err)
	}
	for _, e := range es {
		if err := x.put(ctx, e); err != nil {
			return nil, err
		}
	}
	return es, x.st.DeleteMeta(ctx, legacyInbox)
}

func (x *inbox) index(e *envelope) {
	x.byKey[e.Key] = e
	if !e.Done {
		x.pending[e.Key] = e
	}
	if e.Env != "" {
		x.byEnv[e.Env] = e
	}
}

// put writes e's record.
func (x *inbox) put(ctx context.Context, e *envelope) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return x.st.PutMeta(ctx, inboxPrefix+e.Key, data)
}

// add records e unless its key or envelope id was seen, and reports
// whether it is new. The record is durable when add returns without error;
// when the store fails, e is still new (and handled), just not durable.
// The write happens outside the lock, so envelopes arriving together are
// committed together.
func (x *inbox) add(ctx context.Context, e *envelope) (bool, error) {
	x.mu.Lock()
	if err := x.loadLocked(ctx); err != nil {
		seen := x.seen(e)
		x.mu.Unlock()
		return !seen, err
	}
	if x.seen(e) {
		x.mu.Unlock()
		return false, nil
	}
	e.At = x.now()
	x.index(e)
	rec := *e
	x.mu.Unlock()
	return true, x.put(ctx, &rec)
}

func (x *inbox) seen(e *envelope) bool {
	return x.byKey[e.Key] != nil || (e.Env != "" && x.byEnv[e.Env] != nil)
}

// done records that e was handled, dropping its payload, and forgets the
// oldest handled envelopes past keepDone or maxDone, a few at a time.
func (x *inbox) done(ctx context.Context, e *envelope) error {
	x.mu.Lock()
	cur := x.byKey[e.Key]
	if cur == nil || cur.Done {
		x.mu.Unlock()
		return nil
	}
	cur.Done, cur.Payload = true, nil
	delete(x.pending, cur.Key)
	x.handled = append(x.handled, cur.Key)
	rec := *cur
	stale := x.pruneLocked()
	x.mu.Unlock()
	if err := x.put(ctx, &rec); err != nil {
		return err
	}
	return x.st.DeleteMeta(ctx, stale...)
}

// pruneLocked forgets up to pruneBatch handled envelopes that are older
// than keepDone or beyond maxDone, and returns their record keys; the
// caller holds mu.
func (x *inbox) pruneLocked() []string {
	cutoff := x.now().Add(-keepDone)
	var stale []string
	for x.head < len(x.handled) && len(stale) < pruneBatch {
		k := x.handled[x.head]
		e := x.byKey[k]
		if e != nil && e.Done && len(x.handled)-x.head <= maxDone && !e.At.Before(cutoff) {
			break
		}
		x.head++
		if e != nil && e.Done {
			x.drop(k, e)
			stale = append(stale, inboxPrefix+k)
		}
	}
	if x.head > len(x.handled)/2 && x.head > pruneBatch {
		x.handled = append([]string(nil), x.handled[x.head:]...)
		x.head = 0
	}
	return stale
}

// isDone reports whether the envelope with key was handled.
func (x *inbox) isDone(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byKey[key]
	return e != nil && e.Done
}

// unfinished returns the envelopes not yet handled, oldest first.
func (x *inbox) unfinished() []*envelope {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*envelope, 0, len(x.pending))
	for _, e := range x.pending {
		cp := *e
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func (x *inbox) drop(key string, e *envelope) {
	delete(x.byKey, key)
	if e.Env != "" && x.byEnv[e.Env] == e {
		delete(x.byEnv, e.Env)
	}
}
