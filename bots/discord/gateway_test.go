package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
)

// runBare runs a Bot against fake with an engine that answers "ok" to
// everything, and returns its cancel and the channel Run's result comes on.
func runBare(t *testing.T, fake *fakeDiscord) (*Bot, context.CancelFunc, chan error) {
	t.Helper()
	bot, err := New(Config{Token: fakeToken, APIURL: fake.srv.URL, SupportChannel: fakeSupport, GuildID: fakeGuild, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- bot.Run(ctx, func(context.Context, bots.Message) bots.Reply { return bots.Reply{Text: "ok"} })
	}()
	t.Cleanup(cancel)
	return bot, cancel, done
}

// waitUp waits until the bot identified once and has a live session.
func waitUp(t *testing.T, fake *fakeDiscord, bot *Bot) {
	t.Helper()
	fake.waitFor("identify", func() bool { return fake.identifies == 1 })
	for range 3000 {
		if bot.Up() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the bot never reported a live session")
}

// returnsSoon waits for Run's result: Run must end within 5 s of its
// context, whatever the gateway is doing.
func returnsSoon(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of its context ending")
		return nil
	}
}

// A replica taking over the gateway waits out Discord's limit counted from
// the last Identify of any replica (kept in the store), instead of being
// refused with an Invalid Session and waiting longer.
func TestIdentifyWaitCountsOtherReplicas(t *testing.T) {
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{Notify: dialog.Notifier()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	bot, err := New(Config{Token: fakeToken, State: q, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if w := (&gateway{b: bot}).identifyWait(t.Context()); w != 0 {
		t.Errorf("no replica identified yet: wait %v, want none", w)
	}
	at := time.Now().Add(-2 * time.Second)
	if err := q.PutMeta(t.Context(), keyIdentified, []byte(at.UTC().Format(time.RFC3339Nano))); err != nil {
		t.Fatal(err)
	}
	w := (&gateway{b: bot}).identifyWait(t.Context())
	if want := identifyEvery + identifyMargin - 2*time.Second; w > want || w < want-time.Second {
		t.Errorf("another replica identified 2 s ago: wait %v, want about %v", w, want)
	}
	old := time.Now().Add(-time.Minute)
	q.PutMeta(t.Context(), keyIdentified, []byte(old.UTC().Format(time.RFC3339Nano)))
	if w := (&gateway{b: bot}).identifyWait(t.Context()); w != 0 {
		t.Errorf("the last Identify a minute ago: wait %v, want none", w)
	}
}

// Op 9 with d true: the session is resumed, not started again.
func TestInvalidSessionResumable(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	fake.invalidSession(true)
	fake.waitFor("the resume", func() bool { return len(fake.resumes) == 1 })
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "hola", false)
	fake.lastBot(dm, "Soy el asistente")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.identifies != 1 {
		t.Errorf("identifies = %d after a resumable invalid session, want 1", fake.identifies)
	}
}

// Op 9 with d false as the answer to a Resume (the session expired while
// disconnected): the bot waits the 1–5 s Discord asks for, identifies
// anew, catches up what it missed, and can still be stopped. discordgo
// deadlocked here.
func TestInvalidSessionOnResume(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "hola", false)
	fake.lastBot(dm, "Soy el asistente")
	fake.mu.Lock()
	fake.session.resumable = false // expired: the next Resume gets op 9 false
	fake.mu.Unlock()
	fake.reconnect()
	fake.say(dm, maria, question, true) // missed: only in the channel's history
	fake.waitFor("a new session", func() bool { return fake.identifies == 2 })
	fake.lastBot(dm, "Plazos y gastos de envío")
	fake.mu.Lock()
	gap := fake.identified[len(fake.identified)-1].Sub(fake.identified[len(fake.identified)-2])
	fake.mu.Unlock()
	if gap < identifyEvery {
		t.Errorf("identified again after %v, want at least %v", gap, identifyEvery)
	}
}

// A connection whose heartbeats go unacknowledged is a zombie: the bot
// closes it with a code that keeps the session (not 1000, which ends it)
// and resumes, losing nothing.
func TestZombieConnectionResumes(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.heartbeat = 200
	bot, cancel, done := runBare(t, fake)
	waitUp(t, fake, bot)
	fake.mu.Lock()
	fake.noAcks = true
	fake.mu.Unlock()
	fake.waitFor("the zombie closed", func() bool { return len(fake.closes) == 1 })
	fake.mu.Lock()
	fake.noAcks = false
	fake.mu.Unlock()
	fake.waitFor("the resume", func() bool { return len(fake.resumes) == 1 })
	fake.mu.Lock()
	code, identifies := fake.closes[0], fake.identifies
	fake.mu.Unlock()
	if code == 1000 || code == 1001 || identifies != 1 {
		t.Errorf("zombie closed with %d and %d identifies, want a resumable code and 1", code, identifies)
	}
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "hola", false)
	fake.lastBot(dm, "ok")
	cancel()
	if err := returnsSoon(t, done); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// Close codes Discord documents as fatal end Run with an error that says
// what to do, after one Identify: retrying would spend the day's Identify
// allowance, after which Discord resets the token.
func TestFatalCloseCodes(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{4004: "token", 4010: "shard", 4011: "sharding", 4012: "version", 4013: "intents", 4014: "Message Content Intent"} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			bot, _, done := runBare(t, fake)
			waitUp(t, fake, bot)
			fake.closeWith(code)
			err := returnsSoon(t, done)
			var fe *FatalError
			if !errors.As(err, &fe) || fe.Code != code || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run = %v, want a fatal close %d that mentions %q", err, code, want)
			}
			if bot.Up() {
				t.Error("the channel still reports up")
			}
			time.Sleep(time.Second) // a retry would come within this
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.identifies != 1 || len(fake.resumes) != 0 {
				t.Errorf("after close %d: %d identifies, %d resumes, want 1 and 0", code, fake.identifies, len(fake.resumes))
			}
		})
	}
}

// Run ends within 5 s of its context in any state: waiting for a hello
// that never comes, and waiting out an invalid session.
func TestShutdownInAnyState(t *testing.T) {
	t.Parallel()
	t.Run("no hello", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t)
		fake.mute = true
		_, cancel, done := runBare(t, fake)
		fake.waitFor("a connection", func() bool { return len(fake.requestsLocked("GET /api/v9/gateway/bot")) > 0 })
		time.Sleep(200 * time.Millisecond)
		cancel()
		if err := returnsSoon(t, done); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Run("invalid session", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t)
		bot, cancel, done := runBare(t, fake)
		waitUp(t, fake, bot)
		fake.invalidate()
		time.Sleep(100 * time.Millisecond)
		cancel()
		if err := returnsSoon(t, done); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// Identify says who connects as Discord documents it: os, browser and
// device (not the deprecated $os…), and a valid presence.
func TestIdentifyPayload(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	bot, _, _ := runBare(t, fake)
	waitUp(t, fake, bot)
	fake.mu.Lock()
	raw := fake.identify[0]
	fake.mu.Unlock()
	var id struct {
		Intents    int               `json:"intents"`
		Properties map[string]string `json:"properties"`
		Presence   struct {
			Status     string `json:"status"`
			AFK        *bool  `json:"afk"`
			Activities []any  `json:"activities"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"os", "browser", "device"} {
		if id.Properties[k] == "" {
			t.Errorf("identify properties lack %q: %s", k, raw)
		}
	}
	if strings.Contains(string(raw), `"$os"`) {
		t.Errorf("identify uses the deprecated $os: %s", raw)
	}
	if id.Presence.Status != "online" || id.Presence.AFK == nil || id.Presence.Activities == nil {
		t.Errorf("identify presence %s, want status, afk and activities", raw)
	}
	if id.Intents != int(intents) {
		t.Errorf("intents %d, want %d", id.Intents, intents)
	}
}
