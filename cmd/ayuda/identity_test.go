package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/bots"
	"ayuda/config"
	"ayuda/escalation"
	"ayuda/internal/apitest"
)

// Every API call is made as someone: an agent with their own token acts as
// that agent only and, on a ticket another agent holds, only after a
// recorded takeover; a terminal customer's token reaches that customer's
// conversation and inbox and nothing else; the operator's token reads and
// acts as nobody. The ticket's events say who did what, when and from where.
func TestAPIIdentity(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "ayuda.yaml", "agents:\n  - {id: ana, name: Ana, privacy: true}\n  - {id: luis, name: Luis}\n")
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = dir
	a := openTestApp(t, cfg)
	creds, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok := map[string]string{"operator": "operator-token-0123456789"}
	for _, p := range []auth.Principal{{Role: auth.Agent, Name: "ana"}, {Role: auth.Agent, Name: "luis"}, {Role: auth.Customer, Name: "lola"}, {Role: auth.Customer, Name: "mia"}} {
		if tok[p.Name], err = creds.Issue(p.Role, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.Handler(api.Config{Queue: a.queue, Engine: a.engine, Token: tok["operator"], Creds: creds, Logger: a.log}))
	defer srv.Close()
	call := apitest.Caller(t, srv.URL)
	if code, body := call("POST", "/api/chat", tok["lola"], `{"text":"quiero hablar con una persona, el pedido AUR-9 llegó roto"}`); code != 200 || !strings.Contains(body, "#1") {
		t.Fatalf("lola's chat: %d %s", code, body)
	}
	if code, body := call("POST", "/api/tickets/1/claim", tok["ana"], `{}`); code != 200 || !strings.Contains(body, `"assignee": "ana"`) {
		t.Fatalf("ana claims: %d %s", code, body)
	}
	for _, tc := range []struct {
		who, method, path, body string
		want                    int
	}{
		// Acting as someone else.
		{"luis", "POST", "/api/tickets/1/reply", `{"agent":"ana","text":"hola"}`, 403},
		{"ana", "POST", "/api/tickets/1/note", `{"agent":"luis","text":"hola"}`, 403},
		// Someone else's ticket, without a takeover.
		{"luis", "POST", "/api/tickets/1/reply", `{"text":"hola"}`, 409},
		{"luis", "POST", "/api/tickets/1/note", `{"text":"ojo"}`, 409},
		{"luis", "POST", "/api/tickets/1/status", `{"status":"waiting"}`, 409},
		{"luis", "POST", "/api/tickets/1/classify", `{"priority":"alta"}`, 409},
		// Roles.
		{"operator", "POST", "/api/tickets/1/reply", `{"agent":"ana","text":"hola"}`, 403},
		{"operator", "POST", "/api/chat", `{"as":"lola","text":"hola"}`, 403},
		{"ana", "POST", "/api/chat", `{"as":"lola","text":"hola"}`, 403},
		{"ana", "GET", "/api/chat/inbox?as=lola", ``, 403},
		{"lola", "GET", "/api/tickets", ``, 403},
		{"lola", "GET", "/api/tickets/1", ``, 403},
		{"lola", "GET", "/api/report", ``, 403},
		{"lola", "POST", "/api/tickets/1/reply", `{"text":"me respondo yo"}`, 403},
		// Another customer's conversation and inbox.
		{"mia", "GET", "/api/chat/inbox?as=lola", ``, 403},
		{"mia", "GET", "/api/chat/inbox?as=lola&ack=99", ``, 403},
		{"mia", "POST", "/api/chat", `{"as":"lola","text":"cancelad mi pedido"}`, 403},
		// People's data: agents with the privacy right only.
		{"luis", "GET", "/api/customers/console:lola", ``, 403},
		{"luis", "POST", "/api/customers/console:lola/erase", `{}`, 403},
		{"operator", "GET", "/api/customers/console:lola", ``, 403},
		{"lola", "GET", "/api/customers/console:lola", ``, 403},
		{"ana", "GET", "/api/customers/console:lola", ``, 200},
		// What each may do.
		{"operator", "GET", "/api/tickets/1", ``, 200},
		{"luis", "GET", "/api/tickets", ``, 200},
		{"mia", "GET", "/api/chat/inbox", ``, 200},
	} {
		if code, body := call(tc.method, tc.path, tok[tc.who], tc.body); code != tc.want {
			t.Errorf("%s: %s %s %s: %d %s, want %d", tc.who, tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	if code, body := call("POST", "/api/tickets/1/takeover", tok["luis"], `{"text":"Ana está de vacaciones"}`); code != 200 || !strings.Contains(body, `"assignee": "luis"`) {
		t.Fatalf("luis takes over: %d %s", code, body)
	}
	if code, body := call("POST", "/api/tickets/1/reply", tok["luis"], `{"text":"Te mando otro hoy."}`); code != 200 {
		t.Errorf("luis after the takeover: %d %s", code, body)
	}
	if code, _ := call("POST", "/api/tickets/1/note", tok["ana"], `{"text":"sigo yo"}`); code != 409 {
		t.Errorf("ana after luis took over: %d, want 409", code)
	}
	_, body := call("GET", "/api/tickets/1", tok["operator"], "")
	var tk escalation.Ticket
	if err := json.Unmarshal([]byte(body), &tk); err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, ev := range tk.Events {
		if ev.Actor == "ana" || ev.Actor == "luis" {
			if ev.Via != "api" || ev.Time.IsZero() {
				t.Errorf("event without its channel or time: %+v", ev)
			}
			trail = append(trail, ev.Actor+" "+ev.What+" "+ev.Detail)
		}
	}
	if want := []string{"ana claimed ", "ana customer_data_exported ", "luis taken_over from ana: Ana está de vacaciones", "luis replied "}; strings.Join(trail, "|") != strings.Join(want, "|") {
		t.Errorf("audit trail %q, want %q", trail, want)
	}
	// The customers' inboxes are their own.
	if _, body := call("GET", "/api/chat/inbox", tok["mia"], ""); strings.Contains(body, "Te mando otro") {
		t.Errorf("mia got lola's messages: %s", body)
	}
	if _, body := call("GET", "/api/chat/inbox", tok["lola"], ""); !strings.Contains(body, "Te mando otro hoy.") {
		t.Errorf("lola did not get luis's reply: %s", body)
	}

	// The scheme is case-insensitive; a revoked token stops working.
	for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/tickets", nil)
		req.Header.Set("Authorization", scheme+" "+tok["ana"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("Authorization: %s …: %d", scheme, resp.StatusCode)
		}
	}
	cli, err := auth.Open(dir) // as `ayuda agents token ana --revoke` does
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(auth.Agent, "ana"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the server looks at the file at most once a second
	if code, _ := call("GET", "/api/tickets", tok["ana"], ""); code != 401 {
		t.Errorf("ana's revoked token: %d, want 401", code)
	}
}

// The terminal tools send credentials only to the server of their data
// directory: not to a process that took the port a crashed server left in
// server.json, even one that answers /healthz.
func TestToolsTrustOnlyTheirServer(t *testing.T) {
	cfg := defaultConfig(t)
	dir := cfg.Data
	if _, err := apiToken(cfg, func(string) string { return "" }, true); err != nil {
		t.Fatal(err)
	}
	store, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0)) // the store a crashed server left
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	var sawToken atomic.Bool
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawToken.Store(true)
		}
		w.Header().Set(api.ProofHeader, strings.Repeat("ab", 32))
		w.Write([]byte("ok\n"))
	}))
	defer impostor.Close()
	info := func(pid int, addr string) {
		data, _ := json.Marshal(serverInfo{Addr: addr, PID: pid})
		if err := os.WriteFile(serverFile(dir), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	none := func(string) string { return "" }
	info(os.Getpid(), strings.TrimPrefix(impostor.URL, "http://"))
	if c := findServer(t.Context(), cfg, none); c != nil {
		t.Error("the tools believed a server that cannot prove it knows the token")
	}
	if _, err := cli(t, dir, "", "tickets", "list"); err != nil {
		t.Errorf("tickets list should fall back to the store: %v", err)
	}
	if sawToken.Load() {
		t.Error("a token reached the impostor")
	}
	info(1<<22+12345, strings.TrimPrefix(impostor.URL, "http://")) // no such process
	if c := findServer(t.Context(), cfg, none); c != nil {
		t.Error("the tools believed server.json of a process that is gone")
	}

	// The real server proves itself.
	a := openTestApp(t, cfg)
	tok, _ := apiToken(cfg, none, false)
	real := httptest.NewServer(api.Handler(api.Config{Queue: a.queue, Engine: a.engine, Token: tok, Logger: a.log}))
	defer real.Close()
	info(os.Getpid(), strings.TrimPrefix(real.URL, "http://"))
	if c := findServer(t.Context(), cfg, none); c == nil {
		t.Error("the tools did not recognise their own server")
	}
}

// Bad names and tokens are refused in words before they reach the store.
func TestNamesAndTokensChecked(t *testing.T) {
	dir := t.TempDir()
	for _, as := range []string{"lo\x00la", "eve\x1b]0;pwned\x07", strings.Repeat("x", 200)} {
		if _, err := cli(t, dir, "", "chat", "--as", as); err == nil || !strings.Contains(err.Error(), "name") {
			t.Errorf("chat --as %q: %v", as, err)
		}
		if _, err := cli(t, dir, "", "tickets", "claim", "1", "--as", as); err == nil || !strings.Contains(err.Error(), "name") {
			t.Errorf("tickets claim --as %q: %v", as, err)
		}
	}
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = dir
	if _, err := apiToken(cfg, func(k string) string { return map[string]string{"AYUDA_API_TOKEN": "x"}[k] }, true); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("a one-character AYUDA_API_TOKEN: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api-token"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := apiToken(cfg, func(string) string { return "" }, true); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty token file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "api-token"), []byte("0123456789abcdef0123\n"), 0o600)
	os.Chmod(filepath.Join(dir, "api-token"), 0o644)
	if bad := secretFilesReadable(dir); len(bad) != 1 || !strings.Contains(bad[0], "0644") {
		t.Errorf("a token file others can read: %v", bad)
	}
}

// A customer's name, message or caption cannot drive the agent's terminal:
// what the tools print has no escape sequences.
func TestTerminalToolsPrintNoEscapes(t *testing.T) {
	cfg := defaultConfig(t)
	dir := cfg.Data
	a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0))
	if err != nil {
		t.Fatal(err)
	}
	evil := "eve\x1b]0;pwned\x07\x1b[2J\u009b31m\u202e"
	_, err = a.queue.Open(t.Context(), escalation.Ticket{
		Type: escalation.Consulta, Priority: escalation.Normal, Summary: "hola " + evil,
		Customer:   escalation.Customer{Address: bots.Address{Platform: bots.Telegram, Chat: "7", User: "7"}, Name: evil, Lang: "es"},
		Transcript: []escalation.Entry{{Author: escalation.AuthorCustomer, Text: "mira " + evil, Attachments: []bots.Attachment{{Kind: "photo", Ref: "x", Caption: evil}}}},
	})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"tickets", "list"}, {"tickets", "show", "1"}} {
		out, err := cli(t, dir, "", args...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") || !strings.Contains(out, "eve") {
			t.Errorf("%v printed control characters:\n%q", args, out)
		}
	}
}

// `ayuda customers show/export/erase` handle a people's data request from
// the command line: erasing needs --yes, and leaves the ticket anonymised.
func TestCustomersDataCommands(t *testing.T) {
	dir := t.TempDir()
	if _, err := cli(t, dir, "quiero hablar con una persona, soy lola@example.com\n", "chat", "--as", "lola"); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, dir, "", "customers", "show", "console:lola")
	if err != nil || !strings.Contains(out, "#1") || !strings.Contains(out, "mail:lola@example.com") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, err = cli(t, dir, "", "customers", "export", "console:lola")
	var data escalation.CustomerData
	if err != nil || json.Unmarshal([]byte(out), &data) != nil || len(data.Tickets) != 1 || len(data.Conversations) != 1 {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if _, err := cli(t, dir, "", "customers", "erase", "console:lola"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("erase without --yes: %v", err)
	}
	if out, err := cli(t, dir, "", "customers", "erase", "console:lola", "--yes"); err != nil || !strings.Contains(out, "1 tickets anonymised") {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	out, err = cli(t, dir, "", "tickets", "show", "1")
	if err != nil || strings.Contains(out, "lola") || !strings.Contains(out, "customer_data_erased") {
		t.Errorf("the ticket after erasing: %v\n%s", err, out)
	}
}

func TestRetentionSetting(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(write(t, dir, "ayuda.yaml", "retention:\n  closed_transcripts: 365d\n"), func(string) string { return "" })
	if err != nil || cfg.Queue().Retention.ClosedTranscripts != 365*24*time.Hour {
		t.Fatalf("365d: %v %+v", err, cfg.Retention)
	}
	if _, err := config.Load(write(t, dir, "bad.yaml", "retention:\n  closed_transcripts: un año\n"), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad period: %v", err)
	}
}

// Logs, at every level, say what happened by ids and counts: no message
// text, e-mail or phone number reaches them.
func TestLogsKeepNoCustomerText(t *testing.T) {
	cfg := defaultConfig(t)
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := openApp(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	from := bots.Address{Platform: bots.Telegram, Chat: "77", User: "77"}
	for i, text := range []string{
		"hola, mi correo es secreto.cliente@example.com",
		"llamadme al 612 345 678, clave zafiro-dorado",
		"quiero hablar con una persona sobre zafiro-dorado",
		"sigo esperando, zafiro-dorado",
		"asdf zafiro-dorado qwerty",
	} {
		a.engine.Handle(t.Context(), bots.Message{ID: fmt.Sprint("tg:", i), From: from, Name: "Cliente Secreto", Text: text, Time: time.Now()})
	}
	ts, err := a.queue.List(t.Context(), escalation.Filter{})
	if err != nil || len(ts) == 0 {
		t.Fatalf("no ticket opened: %v", err)
	}
	if _, err := a.queue.Reply(t.Context(), ts[0].ID, "agente", "Te llamamos hoy."); err != nil {
		t.Fatal(err)
	}
	// Deliveries that fail, then are given up on, are logged.
	fail := escalation.SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error {
		return bots.Permanent(errors.New("blocked by the user"))
	})
	if _, err := a.queue.DispatchOnce(t.Context(), fail); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Count(buf.String(), "\n") == 0 {
		t.Fatal("nothing was logged: the test checks nothing")
	}
	for _, s := range []string{"secreto.cliente", "612 345 678", "612345678", "zafiro", "Cliente Secreto"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("the log has %q:\n%s", s, buf.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// defaultConfig is the configuration without a file, on a fresh data
// directory.
func defaultConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = t.TempDir()
	return cfg
}

// openTestApp opens the app on cfg for the test, and closes it after.
func openTestApp(t *testing.T, cfg *config.Config) *app {
	t.Helper()
	a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
