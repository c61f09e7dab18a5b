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
// handled recently (their keys only, to drop Slack's re-deliveries). It is
// kept in State under one key and is safe for concurrent use.
type inbox struct {
	st  State
	now func() time.Time

	mu     sync.Mutex // guards everything below, and orders the writes
	loaded bool
	byKey  map[string]*envelope
	byEnv  map[string]*envelope
}

const (
	inboxKey = "slack:inbox"
	// keepDone is how long a handled envelope's keys are kept: Slack
	// retries an event three times within a few minutes. Beyond it, the
	// dialog engine (message ids) and the queue (ReplyRef) still drop a
	// repeated message.
	keepDone = time.Hour
	// maxDone caps the handled envelopes kept, oldest dropped first, so
	// the record written on every envelope stays small.
	maxDone = 2000
)

func newInbox(st State, now func() time.Time) *inbox {
	return &inbox{st: st, now: now, byKey: map[string]*envelope{}, byEnv: map[string]*envelope{}}
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
	data, err := x.st.GetMeta(ctx, inboxKey)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		var es []*envelope
		if err := json.Unmarshal(data, &es); err != nil {
			return fmt.Errorf("%s: %w", inboxKey, err)
		}
		for _, e := range es {
			x.index(e)
		}
	}
	x.loaded = true
	return nil
}

func (x *inbox) index(e *envelope) {
	x.byKey[e.Key] = e
	if e.Env != "" {
		x.byEnv[e.Env] = e
	}
}

// add records e unless its key or envelope id was seen, and reports
// whether it is new. The record is durable when add returns without error;
// when the store fails, e is still new (and handled), just not durable.
func (x *inbox) add(ctx context.Context, e *envelope) (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.loadLocked(ctx); err != nil {
		return !x.seen(e), err
	}
	if x.seen(e) {
		return false, nil
	}
	e.At = x.now()
	x.index(e)
	return true, x.save(ctx)
}

func (x *inbox) seen(e *envelope) bool {
	return x.byKey[e.Key] != nil || (e.Env != "" && x.byEnv[e.Env] != nil)
}

// done records that e was handled, dropping its payload.
func (x *inbox) done(ctx context.Context, e *envelope) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur := x.byKey[e.Key]
	if cur == nil || cur.Done {
		return nil
	}
	cur.Done, cur.Payload = true, nil
	return x.save(ctx)
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
	var out []*envelope
	for _, e := range x.byKey {
		if !e.Done {
			cp := *e
			out = append(out, &cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// save prunes handled envelopes by age and count and writes the inbox;
// the caller holds mu.
func (x *inbox) save(ctx context.Context) error {
	cutoff := x.now().Add(-keepDone)
	var done []*envelope
	all := make([]*envelope, 0, len(x.byKey))
	for k, e := range x.byKey {
		if e.Done && e.At.Before(cutoff) {
			x.drop(k, e)
			continue
		}
		if e.Done {
			done = append(done, e)
		}
		all = append(all, e)
	}
	if len(done) > maxDone {
		sort.Slice(done, func(i, j int) bool { return done[i].At.Before(done[j].At) })
		for _, e := range done[:len(done)-maxDone] {
			x.drop(e.Key, e)
		}
		all = all[:0]
		for _, e := range x.byKey {
			all = append(all, e)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	data, err := json.Marshal(all)
	if err != nil {
		return err
	}
	return x.st.PutMeta(ctx, inboxKey, data)
}

func (x *inbox) drop(key string, e *envelope) {
	delete(x.byKey, key)
	if e.Env != "" && x.byEnv[e.Env] == e {
		delete(x.byEnv, e.Env)
	}
}
