package inbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"ayuda/auth"
	"ayuda/bots"
	"ayuda/escalation"
)

// Signing in: a session per browser, kept in the store as a hash, with
// its CSRF token; the agent it is for on every request.

type session struct {
	Agent   string    `json:"agent"`
	Expires time.Time `json:"expires"`
}

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "inbox:session:" + hex.EncodeToString(h[:])
}

func (x *Inbox) csrf(id string) string {
	m := hmac.New(sha256.New, x.cfg.Key)
	m.Write([]byte("ayuda-inbox-csrf:" + id))
	return hex.EncodeToString(m.Sum(nil))
}

type agentCtx struct{}

type signedIn struct {
	agent escalation.Agent
	id    string // the session id
}

// signedIn runs h for a signed-in agent, checking the CSRF token and the
// origin of every change.
func (x *Inbox) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil || c.Value == "" {
			fail(w, http.StatusUnauthorized, "signin", "sign in with your agent token")
			return
		}
		raw, err := x.cfg.Queue.GetMeta(r.Context(), sessionKey(c.Value))
		if err != nil {
			x.unavailable(w, r, err)
			return
		}
		var s session
		if raw == nil || json.Unmarshal(raw, &s) != nil || x.cfg.Now().After(s.Expires) || !x.cfg.Creds.Has(auth.Agent, s.Agent) {
			fail(w, http.StatusUnauthorized, "signin", "your session has ended: sign in again")
			return
		}
		a, err := x.cfg.Queue.Agent(s.Agent)
		if err != nil {
			fail(w, http.StatusForbidden, "agent", fmt.Sprintf("%s is no longer a configured agent", s.Agent))
			return
		}
		if r.Method != http.MethodGet {
			if !sameOrigin(r) {
				fail(w, http.StatusForbidden, "origin", "changes come only from the inbox's own page")
				return
			}
			if !hmac.Equal([]byte(r.Header.Get("X-CSRF-Token")), []byte(x.csrf(c.Value))) {
				fail(w, http.StatusForbidden, "csrf", "the page is out of date: reload it")
				return
			}
		}
		// Keep a session in use alive, at most once a minute.
		if s.Expires.Sub(x.cfg.Now()) < x.cfg.SessionTTL-time.Minute {
			x.putSession(r.Context(), c.Value, s.Agent)
		}
		ctx := context.WithValue(escalation.WithVia(r.Context(), "inbox"), agentCtx{}, signedIn{agent: a, id: c.Value})
		h(w, r.WithContext(ctx))
	}
}

func current(r *http.Request) signedIn {
	s, _ := r.Context().Value(agentCtx{}).(signedIn)
	return s
}

// sameOrigin reports whether a change comes from a page of this server:
// browsers send Origin with every POST.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (x *Inbox) putSession(ctx context.Context, id, agent string) error {
	data, _ := json.Marshal(session{Agent: agent, Expires: x.cfg.Now().Add(x.cfg.SessionTTL)})
	return x.cfg.Queue.PutMeta(ctx, sessionKey(id), data)
}

type loginRequest struct {
	Token string `json:"token"`
}

type meReply struct {
	Agent string `json:"agent"`
	Name  string `json:"name"`
	CSRF  string `json:"csrf"`
}

func (x *Inbox) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		fail(w, http.StatusForbidden, "origin", "sign in from the inbox's own page")
		return
	}
	var b loginRequest
	if !decode(w, r, &b) {
		return
	}
	p, ok := x.cfg.Creds.Check(strings.TrimSpace(b.Token))
	if !ok || p.Role != auth.Agent {
		fail(w, http.StatusUnauthorized, "token", "that is not an agent's token: ask for yours with `ayuda agents token NAME`")
		return
	}
	a, err := x.cfg.Queue.Agent(p.Name)
	if err != nil {
		fail(w, http.StatusForbidden, "agent", fmt.Sprintf("%s is not a configured agent", p.Name))
		return
	}
	x.forgetExpired(r.Context())
	buf := make([]byte, 32)
	rand.Read(buf)
	id := hex.EncodeToString(buf)
	if err := x.putSession(r.Context(), id, a.ID); err != nil {
		x.unavailable(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/inbox", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	})
	bots.WriteJSON(w, http.StatusOK, meReply{Agent: a.ID, Name: nameOf(a), CSRF: x.csrf(id)})
}

// forgetExpired deletes the sessions that ended without a sign-out, at
// each sign-in, so they do not pile up in the store.
func (x *Inbox) forgetExpired(ctx context.Context) {
	now := x.cfg.Now()
	var old []string
	err := x.cfg.Queue.ScanMeta(ctx, "inbox:session:", func(key string, v []byte) error {
		var s session
		if json.Unmarshal(v, &s) != nil || now.After(s.Expires) {
			old = append(old, key)
		}
		return nil
	})
	if err == nil && len(old) > 0 {
		err = x.cfg.Queue.DeleteMeta(ctx, old...)
	}
	if err != nil {
		x.cfg.Logger.WarnContext(ctx, "inbox: forgetting ended sessions", "err", err)
	}
}

func (x *Inbox) logout(w http.ResponseWriter, r *http.Request) {
	if err := x.cfg.Queue.DeleteMeta(r.Context(), sessionKey(current(r).id)); err != nil {
		x.unavailable(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/inbox", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	bots.WriteJSON(w, http.StatusOK, struct{}{})
}

func (x *Inbox) me(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	bots.WriteJSON(w, http.StatusOK, meReply{Agent: s.agent.ID, Name: nameOf(s.agent), CSRF: x.csrf(s.id)})
}

func nameOf(a escalation.Agent) string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}
