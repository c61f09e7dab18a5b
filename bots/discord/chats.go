package discord

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Keys under which the chats are kept in State.
const (
	keyChats    = "discord:chats"
	keyLastSeen = "discord:last:" // + channel id
)

// Kinds of chat.
const (
	kindDM     = "dm"
	kindThread = "thread"
)

// chat is a DM channel or a thread ayuda opened, as remembered in State.
type chat struct {
	Kind   string    `json:"kind"`
	User   string    `json:"user"`             // the customer
	Parent string    `json:"parent,omitempty"` // a thread's channel
	Active time.Time `json:"active"`           // last handled message, to the day
}

// Chats older than forgetAfter are forgotten; catch-up looks at chats
// active within catchUpWithin, at most catchUpChats of them.
const (
	forgetAfter   = 30 * 24 * time.Hour
	catchUpWithin = 7 * 24 * time.Hour
	catchUpChats  = 50
	touchEvery    = 24 * time.Hour
)

// chats remembers ayuda's threads (whose customer they are, so ayuda
// answers in them and finds a customer's thread again), the DM channels it
// talks in, and the last message seen in each channel, for catch-up. It is
// safe for concurrent use; State may be nil (memory only).
type chats struct {
	state   State
	support string

	mu       sync.Mutex
	byID     map[string]chat
	threadOf map[string]string // support-channel customer → thread
	last     map[string]string // channel → last seen message id

	saveMu sync.Mutex // orders writes of keyChats
}

func newChats(state State, support string) *chats {
	return &chats{state: state, support: support, byID: map[string]chat{}, threadOf: map[string]string{}, last: map[string]string{}}
}

// load reads the chats from State, at every start of Run: with several
// replicas, the one that runs Discord now may have run it before, and the
// others have remembered chats since. What is in memory and later than
// what is stored stays; the last seen messages are read afresh.
func (c *chats) load(ctx context.Context) error {
	if c.state == nil {
		return nil
	}
	data, err := c.state.GetMeta(ctx, keyChats)
	if err != nil {
		return fmt.Errorf("discord: load chats: %w", err)
	}
	var m map[string]chat
	if data != nil {
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("discord: load chats: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range m {
		if cur, ok := c.byID[id]; ok && cur.Active.After(ch.Active) {
			continue
		}
		c.byID[id] = ch
		if ch.Kind == kindThread && ch.Parent == c.support {
			c.threadOf[ch.User] = id
		}
	}
	c.last = map[string]string{}
	return nil
}

// thread returns ayuda's thread with id, if it is one.
func (c *chats) thread(id string) (chat, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.byID[id]
	return ch, ok && ch.Kind == kindThread
}

// threadFor returns the customer's thread in the support channel, or "".
func (c *chats) threadFor(user string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.threadOf[user]
}

// forgetThread drops a thread that no longer exists.
func (c *chats) forgetThread(ctx context.Context, id string) error {
	c.mu.Lock()
	ch, ok := c.byID[id]
	if ok {
		delete(c.byID, id)
		if c.threadOf[ch.User] == id {
			delete(c.threadOf, ch.User)
		}
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return c.save(ctx)
}

// add records a new thread or DM channel.
func (c *chats) add(ctx context.Context, id string, ch chat, now time.Time) error {
	ch.Active = now.UTC().Truncate(time.Hour)
	c.mu.Lock()
	c.byID[id] = ch
	if ch.Kind == kindThread && ch.Parent == c.support {
		c.threadOf[ch.User] = id
	}
	c.mu.Unlock()
	return c.save(ctx)
}

// touch notes activity in a chat (a DM channel is added on first use);
// it writes State at most once a day per chat.
func (c *chats) touch(ctx context.Context, id, kind, user string, now time.Time) error {
	c.mu.Lock()
	ch, ok := c.byID[id]
	if ok && now.Sub(ch.Active) < touchEvery {
		c.mu.Unlock()
		return nil
	}
	if !ok {
		if kind != kindDM {
			c.mu.Unlock()
			return nil // only ayuda's own threads are remembered, when opened
		}
		ch = chat{Kind: kindDM, User: user}
	}
	ch.Active = now.UTC().Truncate(time.Hour)
	c.byID[id] = ch
	c.mu.Unlock()
	return c.save(ctx)
}

// save writes the chats to State, forgetting the ones long idle.
func (c *chats) save(ctx context.Context) error {
	if c.state == nil {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	cutoff := time.Now().Add(-forgetAfter)
	for id, ch := range c.byID {
		if ch.Active.Before(cutoff) {
			delete(c.byID, id)
			if c.threadOf[ch.User] == id {
				delete(c.threadOf, ch.User)
			}
		}
	}
	data, err := json.Marshal(c.byID)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("discord: save chats: %w", err)
	}
	if err := c.state.PutMeta(ctx, keyChats, data); err != nil {
		return fmt.Errorf("discord: save chats: %w", err)
	}
	return nil
}

// recent returns the channels to catch up on: the support channel and the
// chats active lately, most recent first.
func (c *chats) recent(now time.Time) []string {
	c.mu.Lock()
	type ac struct {
		id string
		at time.Time
	}
	var list []ac
	for id, ch := range c.byID {
		if now.Sub(ch.Active) <= catchUpWithin {
			list = append(list, ac{id, ch.Active})
		}
	}
	c.mu.Unlock()
	slices.SortFunc(list, func(a, b ac) int { return b.at.Compare(a.at) })
	var out []string
	if c.support != "" {
		out = append(out, c.support)
	}
	for i, x := range list {
		if i == catchUpChats {
			break
		}
		out = append(out, x.id)
	}
	return out
}

// active is when chat id was last active (to the hour), or zero.
func (c *chats) active(id string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id].Active
}

// kind says what a channel is to ayuda: the support channel, one of its
// threads, a DM it talks in, or "" (unknown).
func (c *chats) kind(id string) string {
	if id == c.support && id != "" {
		return "support"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id].Kind
}

// lastSeen returns the last message id handled in channel, or "".
func (c *chats) lastSeen(ctx context.Context, channel string) (string, error) {
	c.mu.Lock()
	id, ok := c.last[channel]
	c.mu.Unlock()
	if ok || c.state == nil {
		return id, nil
	}
	data, err := c.state.GetMeta(ctx, keyLastSeen+channel)
	if err != nil {
		return "", fmt.Errorf("discord: last seen in %s: %w", channel, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.last[channel]; ok && later(cur, string(data)) {
		return cur, nil
	}
	c.last[channel] = string(data)
	return string(data), nil
}

// advance records that message id in channel was handled, if it is later
// than the last one recorded.
func (c *chats) advance(ctx context.Context, channel, id string) error {
	cur, err := c.lastSeen(ctx, channel)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if cur = c.last[channel]; !later(id, cur) {
		c.mu.Unlock()
		return nil
	}
	c.last[channel] = id
	c.mu.Unlock()
	if c.state == nil {
		return nil
	}
	if err := c.state.PutMeta(ctx, keyLastSeen+channel, []byte(id)); err != nil {
		return fmt.Errorf("discord: last seen in %s: %w", channel, err)
	}
	return nil
}

// later reports whether snowflake a is after b (b may be empty).
func later(a, b string) bool {
	if b == "" {
		return a != ""
	}
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) > 0
	}
	return x > y
}

// seenSet remembers the last n message and interaction ids handled, so a
// re-delivery (a replayed gateway event, a caught-up message) is dropped.
type seenSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

// first reports whether id is new, and remembers it.
func (s *seenSet) first(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return true
}

// forget lets id be handled again (its handling was abandoned).
func (s *seenSet) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}
