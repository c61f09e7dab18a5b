package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/internal/apitest"
	"ayuda/internal/desktest"
)

// desk is what the API serves in ayuda serve: a store, the engine over the
// built-in articles, and the agents' and customers' tokens.
type desk struct {
	t      *testing.T
	queue  *escalation.Queue
	engine *dialog.Engine
	creds  *auth.Store
}

func openDesk(t *testing.T) *desk {
	t.Helper()
	q := desktest.Queue(t, escalation.Agent{ID: "agente", Name: "Agente"})
	creds, err := auth.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &desk{t: t, queue: q, engine: desktest.Engine(t, q), creds: creds}
}

func (d *desk) config() api.Config {
	return api.Config{Queue: d.queue, Engine: d.engine, Token: "s3cret", Creds: d.creds}
}

func (d *desk) token(role auth.Role, name string) string {
	d.t.Helper()
	tok, err := d.creds.Issue(role, name)
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

// The API refuses calls without the token and actions by people who are
// not agents, and relays a terminal customer's conversation.
func TestAPI(t *testing.T) {
	d := openDesk(t)
	agente, lola := d.token(auth.Agent, "agente"), d.token(auth.Customer, "lola")
	srv := httptest.NewServer(api.Handler(d.config()))
	defer srv.Close()
	call := apitest.Caller(t, srv.URL)
	for _, tok := range []string{"", "wrong", "s3cre"} {
		if code, _ := call("GET", "/api/tickets", tok, ""); code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", tok, code)
		}
	}
	if code, _ := call("GET", "/healthz", "", ""); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	// A body of the wrong shape is explained in the API's terms, not Go's.
	for body, want := range map[string]string{
		`{"agent":"agente","text":5}`:  `field \"text\" must be a string, not number`,
		`{"agent":"agente","txt":"x"}`: `unknown field \"txt\"`,
		`{"agent":`:                    `not valid JSON`,
	} {
		code, got := call("POST", "/api/tickets/1/reply", agente, body)
		if code != http.StatusBadRequest || !strings.Contains(got, want) || strings.Contains(got, "Go struct") {
			t.Errorf("reply with %s: %d %s, want 400 saying %s", body, code, got, want)
		}
	}
	// Unknown routes and wrong methods answer JSON, as the rest of the API.
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/api/nothing", http.StatusNotFound}, {"DELETE", "/api/tickets/1", http.StatusMethodNotAllowed}, {"GET", "/api/tickets/1/claim", http.StatusMethodNotAllowed}} {
		code, body := call(tc.method, tc.path, "s3cret", "")
		var e api.Error
		if code != tc.want || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %q, want %d with a JSON error", tc.method, tc.path, code, body, tc.want)
		}
	}
	if code, body := call("POST", "/api/chat", lola, `{"as":"lola","text":"quiero hablar con una persona, el pedido AUR-9 llegó abierto"}`); code != 200 || !strings.Contains(body, "#1") {
		t.Fatalf("chat: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/tickets/1/claim", `{"agent":"mallory"}`, http.StatusForbidden},
		{"POST", "/api/tickets/1/claim", `{"agent":"agente"} {"agent":"agente"}`, http.StatusBadRequest},
		{"POST", "/api/tickets/1/claim", `{"agent":"agente","x":1}`, http.StatusBadRequest},
		{"POST", "/api/tickets/9/claim", `{"agent":"agente"}`, http.StatusNotFound},
		{"POST", "/api/tickets/abc/claim", `{"agent":"agente"}`, http.StatusBadRequest},
		{"POST", "/api/tickets/1/status", `{"agent":"agente","status":"closed"}`, http.StatusConflict},
		{"POST", "/api/tickets/1/reply", `{"agent":"agente","text":"Te mandamos otro."}`, http.StatusOK},
		{"GET", "/api/tickets?status=open", ``, http.StatusOK},
		{"GET", "/api/tickets?status=bogus", ``, http.StatusBadRequest},
		{"POST", "/api/chat", `{"as":"x","text":"` + strings.Repeat("x", api.MaxBody) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		tok := agente
		if strings.HasPrefix(tc.path, "/api/chat") {
			tok = lola
		}
		if code, body := call(tc.method, tc.path, tok, tc.body); code != tc.want {
			t.Errorf("%s %s %.40s: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	code, body := call("GET", "/api/chat/inbox?as=lola", lola, "")
	if code != 200 || !strings.Contains(body, "Te mandamos otro.") {
		t.Errorf("inbox: %d %s", code, body)
	}
	var in api.Inbox
	json.Unmarshal([]byte(body), &in)
	// Not acknowledged: a client that crashed gets it again.
	if _, again := call("GET", "/api/chat/inbox", lola, ""); !strings.Contains(again, "Te mandamos otro.") {
		t.Errorf("an unacknowledged message was dropped: %s", again)
	}
	if _, body := call("GET", fmt.Sprintf("/api/chat/inbox?as=lola&ack=%d", in.Last), lola, ""); strings.Contains(body, "Te mandamos otro.") {
		t.Errorf("delivered again after the ack: %s", body)
	}
}
