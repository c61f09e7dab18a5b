package telegram

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"ayuda/auth"
	"ayuda/inbox"
	"ayuda/internal/browsertest"
)

// An agent works a Telegram customer's request from the agents' inbox in
// a real headless Chromium (internal/browsertest): signs in with her own
// token, sees the ticket appear without reloading when the customer asks
// for a person on Telegram (the real SDK against the fake Bot API),
// leaves an internal note, replies, and the reply, never the note, reaches
// the customer's chat.
func TestInboxAgentAnswersATelegramCustomerInTheBrowser(t *testing.T) {
	b := browsertest.New(t)
	dir := t.TempDir()
	f := newFakeAPI(t)
	q, eng := openStore(t, dir)
	defer q.Close()
	creds, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	token, err := creds.Issue(auth.Agent, "ana")
	if err != nil {
		t.Fatal(err)
	}
	desk, err := inbox.New(inbox.Config{Queue: q, Creds: creds, Key: []byte("0123456789abcdef0123456789abcdef"), Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(desk.Handler())
	defer func() { web.CloseClientConnections(); web.Close() }()
	start(t, newBot(t, f, q, nil), q, eng)

	b.Go(web.URL + "/inbox")
	b.Type("the token field", browsertest.ByID("token"), token, true)
	b.WaitText("who", "Ana")
	b.WaitText("tickets", "No hay solicitudes")

	// The customer asks for a person on Telegram; the queue shows it live.
	f.message(maria.id, maria, "quiero hablar con una persona, mi pedido 4411 no ha llegado", nil)
	b.WaitText("tickets", "4411")
	if title := b.Title(); title != "(1) ayuda · bandeja" {
		t.Errorf("the tab's title %q does not count the unassigned request", title)
	}
	b.Press("the ticket in the queue", func(n *browsertest.Node) bool {
		return n.NodeName == "LI" && browsertest.Attr(n, "data-id") == "1"
	})
	b.WaitText("d-transcript", "mi pedido 4411 no ha llegado")
	b.WaitText("d-meta", "telegram")

	sentBefore := len(f.sent(maria.id))
	b.Press("the note tab", browsertest.ByID("mode-note"))
	b.Type("the text box", browsertest.ByID("compose-text"), "cliente con dos pedidos abiertos, mirar el otro también", false)
	b.Press("the save note button", browsertest.Button("Guardar nota interna"))
	b.WaitText("d-transcript", "NOTA INTERNA")

	b.Press("the reply tab", browsertest.ByID("mode-reply"))
	b.Type("the text box", browsertest.ByID("compose-text"), "Hola María, soy Ana: tu pedido 4411 sale hoy.", false)
	b.Press("the send button", browsertest.Button("Enviar al cliente"))

	// What reaches Telegram: the reply, after the note would have if it
	// were sent (the outbox keeps each chat's order).
	var got []string
	f.waitFor("the agent's reply on Telegram", func() bool {
		got = got[:0]
		for _, c := range f.sentLocked(maria.id)[sentBefore:] {
			got = append(got, c.Form.Get("text"))
		}
		return strings.Contains(strings.Join(got, "\n"), "tu pedido 4411 sale hoy")
	})
	if all := strings.Join(got, "\n"); strings.Contains(all, "dos pedidos abiertos") {
		t.Fatalf("the internal note reached the customer: %q", got)
	}
	b.WaitText("d-transcript", "tu pedido 4411 sale hoy")
	b.Screenshot("inbox-1280.png")
	b.Do(chromedp.EmulateViewport(360, 740))
	b.Screenshot("inbox-360.png")
}
