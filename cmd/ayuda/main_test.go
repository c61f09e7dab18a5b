package main

import (
	"ayuda/auth"
	"ayuda/config"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ayuda/escalation"
)

// cli runs ayuda with args against dataDir and returns what it printed.
func cli(t *testing.T, dataDir, stdin string, args ...string) (string, error) {
	t.Helper()
	return cliTerm(t, dataDir, stdin, false, args...)
}

// cliTerm is cli with stdin a terminal (interactive) or not.
func cliTerm(t *testing.T, dataDir, stdin string, interactive bool, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		args: append(args, "--data", dataDir),
		getenv: func(k string) string {
			switch k {
			case "AYUDA_HTTP":
				return "127.0.0.1:0"
			case "USER":
				return "tester"
			}
			return ""
		},
		stdin:       strings.NewReader(stdin),
		stdout:      &out,
		stderr:      &errOut,
		interactive: interactive,
	}
	err := run(t.Context(), e)
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

// The walk-through of the README, scripted: a customer chats, an agent
// answers from the command line, and the answer shows up the next time the
// customer opens the chat.
func TestWalkThrough(t *testing.T) {
	dir := t.TempDir()
	out, err := cli(t, dir, "hola\n¿dónde está mi pedido?\n2\nel pedido AUR-42 no llega\n", "chat", "--as", "maria")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Dónde está mi pedido") || !strings.Contains(out, "He abierto la solicitud #1") || !strings.Contains(out, "Añadido a tu solicitud #1") {
		t.Fatalf("chat said:\n%s", out)
	}
	out, err = cli(t, dir, "", "tickets", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list ticketList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Tickets) != 1 {
		t.Fatalf("tickets list --json: %v\n%s", err, out)
	}
	tk := list.Tickets[0]
	if tk.Status != escalation.New || tk.Customer.Name != "maria" || tk.Reason != escalation.ReasonNegative || len(tk.Offered) != 1 {
		t.Errorf("ticket: %+v", tk)
	}
	if _, err := cli(t, dir, "", "tickets", "reply", "1", "Hola", "María,", "sale", "hoy."); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, dir, "", "tickets", "note", "1", "--as", "agente", "nota secreta"); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, dir, "", "tickets", "show", "1")
	if err != nil || !strings.Contains(out, "[internal note]: nota secreta") || !strings.Contains(out, "estado-pedido") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := cli(t, dir, "", "tickets", "claim", "1", "--as", "mallory"); !errors.Is(err, escalation.ErrNotAgent) {
		t.Errorf("a stranger claiming: got %v", err)
	}
	out, err = cli(t, dir, "", "chat", "--as", "maria")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Una persona del equipo (solicitud #1):\n       Hola María, sale hoy.") {
		t.Errorf("the agent's answer did not arrive:\n%s", out)
	}
	if strings.Contains(out, "secreta") {
		t.Errorf("the internal note reached the customer:\n%s", out)
	}
}

func TestAskJSON(t *testing.T) {
	for _, tc := range []struct {
		q, decision, article, lang string
	}{
		// One of each decision the JSON reports; dialog's tests cover the
		// decisions themselves (each call here builds the index).
		{"how do I reset my password", "answer", "cambiar-contrasena", "en"},
		{"quiero denunciar un fraude", "escalate", "", "es"},
		{"cuéntame un chiste", "decline", "", "es"},
	} {
		out, err := cli(t, t.TempDir(), "", "ask", "--json", tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Decision string `json:"decision"`
			Article  string `json:"article"`
			Lang     string `json:"lang"`
			Hits     []struct {
				ID         string   `json:"id"`
				Score      *float64 `json:"score"`
				Confidence *float64 `json:"confidence"`
			} `json:"hits"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%q: %v\n%s", tc.q, err, out)
		}
		if d.Decision != tc.decision || d.Article != tc.article || d.Lang != tc.lang || d.Hits == nil {
			t.Errorf("%q: got %s %q %s (hits %v), want %s %q %s", tc.q, d.Decision, d.Article, d.Lang, d.Hits != nil, tc.decision, tc.article, tc.lang)
		}
		for _, h := range d.Hits {
			if h.ID == "" || h.Score == nil || h.Confidence == nil || *h.Confidence < 0 || *h.Confidence > 1 {
				t.Errorf("%q: bad hit %+v", tc.q, h)
			}
		}
	}
}

func TestKBLint(t *testing.T) {
	out, err := cli(t, t.TempDir(), "", "kb", "lint")
	if err != nil {
		t.Fatalf("built-in articles: %v\n%s", err, out)
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("es/a.md", "---\nid: envios\nlang: es\ntitle: Envíos\nquestions:\n  - ¿cuánto tarda el envío?\n  - ¿cuándo llega mi pedido?\n---\n48 horas.\n")
	write("es/b.md", "---\nid: pedidos\nlang: es\ntitle: Pedidos\nquestions:\n  - ¿cuándo llega mi pedido?\n---\nMira tu cuenta.\n")
	write("es/c.md", "---\nid: envios\nlang: es\ntitle: Otra vez\n---\nx\n")
	write("es/e.md", "---\nid: horario\nlang: es\ntitle: Horario\n---\nDe 9 a 18.\n")
	write("en/d.md", "---\nid: x\nlang: en\ntitle: T\naudience: everybody\n---\nx\n")
	out, err = cli(t, t.TempDir(), "", "kb", "lint", dir)
	if err == nil {
		t.Fatalf("lint passed a broken folder:\n%s", out)
	}
	for _, want := range []string{"en/d.md:5: audience", `duplicate id "envios"`, `best matches`, "no example questions"} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
}

// The API refuses calls without the token and actions by people who are
// not agents, and relays a terminal customer's conversation.
func TestAPI(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = dir
	a := openTestApp(t, cfg)
	creds, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	agente, _ := creds.Issue(auth.Agent, "agente")
	lola, _ := creds.Issue(auth.Customer, "lola")
	srv := httptest.NewServer((&api{app: a, token: "s3cret", creds: creds, log: a.log}).handler())
	defer srv.Close()
	call := apiCaller(t, srv)
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
		var e apiError
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
		{"POST", "/api/chat", `{"as":"x","text":"` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
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
	var in inboxReply
	json.Unmarshal([]byte(body), &in)
	// Not acknowledged: a client that crashed gets it again.
	if _, again := call("GET", "/api/chat/inbox", lola, ""); !strings.Contains(again, "Te mandamos otro.") {
		t.Errorf("an unacknowledged message was dropped: %s", again)
	}
	if _, body := call("GET", fmt.Sprintf("/api/chat/inbox?as=lola&ack=%d", in.Last), lola, ""); strings.Contains(body, "Te mandamos otro.") {
		t.Errorf("delivered again after the ack: %s", body)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ayuda.yaml")
	os.WriteFile(path, []byte("lang: en\ntimezone: America/Bogota\nagents:\n  - {id: ana, name: Ana}\ntargets:\n  urgente: {first_response: 30m, resolution: 4h}\n"), 0o644)
	cfg, err := config.Load(path, func(k string) string {
		if k == "AYUDA_DATA" {
			return "/tmp/elsewhere"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Lang != "en" || cfg.Data != "/tmp/elsewhere" || len(cfg.Agents) != 1 || cfg.Targets[escalation.Urgente].FirstResponse.Minutes() != 30 || cfg.Location().String() != "America/Bogota" {
		t.Errorf("config: %+v", cfg)
	}
	for _, bad := range []string{"lang: fr\n", "langg: es\n", "timezone: Mars/Olympus\n", "targets:\n  rapido: {first_response: 1h}\n", "thresholds: {answer: 2}\n", "agents:\n  - {name: x}\n"} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := config.Load(path, func(string) string { return "" }); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml"), func(string) string { return "" }); err == nil {
		t.Error("an explicit missing config file was accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, err := cli(t, t.TempDir(), "", "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
}

// With a server running, chat and tickets go through its API: the agent's
// answer reaches the customer's next chat once, and the server's store is
// never opened twice.
func TestRemoteChat(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		e := &env{args: []string{"serve", "--no-terminal", "--data", dir, "--http", "127.0.0.1:0"}, getenv: func(string) string { return "" },
			stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
		served <- run(ctx, e)
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, "server.json")); err == nil {
			break
		}
		if i > 1000 {
			t.Fatal("the server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err := cli(t, dir, "quiero hablar con una persona, mi pedido AUR-1 llegó vacío\n", "chat", "--as", "rosa")
	if err != nil || !strings.Contains(out, "#1") {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	if _, err := cli(t, dir, "", "tickets", "reply", "1", "Te", "enviamos", "otro"); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, dir, "", "chat", "--as", "rosa")
	if err != nil || !strings.Contains(out, "Te enviamos otro") {
		t.Fatalf("the answer did not arrive: %v\n%s", err, out)
	}
	out, err = cli(t, dir, "", "chat", "--as", "rosa")
	if err != nil || strings.Contains(out, "Te enviamos otro") {
		t.Errorf("the answer arrived twice: %v\n%s", err, out)
	}
}

// A data file that is not ayuda's, or one another process holds, stops the
// command with a clear error; the file is left as it was.
func TestBadDataFile(t *testing.T) {
	dir := t.TempDir()
	junk := bytes.Repeat([]byte("customer data? "), 4096)
	if err := os.WriteFile(filepath.Join(dir, "ayuda.db"), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve", "--no-terminal"}, {"chat", "--as", "x"}, {"tickets", "list"}} {
		_, err := cli(t, dir, "hola\n", args...)
		if err == nil || !strings.Contains(err.Error(), "not overwritten") {
			t.Errorf("%v on a corrupt file: %v", args, err)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ayuda.db")); !bytes.Equal(after, junk) {
		t.Error("the corrupt file was changed")
	}

	locked := t.TempDir()
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = locked
	openTestApp(t, cfg) // holds the store
	_, err = cli(t, locked, "", "serve", "--no-terminal")
	if !errors.Is(err, escalation.ErrLocked) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("serve on a file in use: %v", err)
	}
}

// apiCaller returns a function that makes one call to srv with a bearer
// token (none if empty) and returns the status code and the body.
func apiCaller(t *testing.T, srv *httptest.Server) func(method, path, token, body string) (int, string) {
	return func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// A configuration file's mistakes are told in its terms: the line, the
// setting, a near setting for a typo, what a value should be; a team
// naming someone who is not an agent says who the agents are.
func TestConfigErrorsInUserTerms(t *testing.T) {
	for yaml, want := range map[string]string{
		"agents:\n  - {id: ana, nmae: Ana}\n": `line 2: unknown setting "nmae" (did you mean "name"?)`,
		"thresholds:\n  answer: alto\n":       `line 2: "alto" is not a number`,
		"timezon: Europe/Madrid\n":            `did you mean "timezone"?`,
	} {
		dir := t.TempDir()
		path := write(t, dir, "ayuda.yaml", yaml)
		_, err := cli(t, dir, "", "tickets", "list", "--config", path)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "escalation.") {
			t.Errorf("%q: %v, want %s", yaml, err, want)
		}
	}
	dir := t.TempDir()
	path := write(t, dir, "ayuda.yaml", "agents:\n  - {id: ana}\nteams:\n  - {name: reclamaciones, agents: [luis]}\n")
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = dir
	a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0))
	if err == nil {
		a.Close()
	}
	if err == nil || !strings.Contains(err.Error(), `team "reclamaciones" lists "luis", who is not among the agents (ana)`) || strings.Contains(err.Error(), "escalation: team") {
		t.Errorf("a team with a stranger: %v", err)
	}
}
