package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ayuda/api"
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
	var list api.TicketList
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
