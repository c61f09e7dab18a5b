package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ayuda/escalation"
	"ayuda/internal/browsertest"
)

// The website chat in a real headless Chromium (internal/browsertest): a
// visitor on a shop's page (another origin) asks, gets the answer, asks
// for a person, sees the reply an agent writes in the inbox (another
// browser) arrive without reloading, reloads and still sees the
// conversation, and writes again at 360 px wide.

func openChat(b *browsertest.Browser) {
	b.Wait("the chat window", browsertest.ByID("text"))
	b.Press("the chat button", func(n *browsertest.Node) bool {
		return n.NodeName == "BUTTON" && browsertest.Attr(n, "aria-expanded") != ""
	})
	b.Wait("the open window", func(n *browsertest.Node) bool {
		return n.NodeName == "IFRAME" && !strings.Contains(browsertest.Attr(n, "style"), "display: none")
	})
}

func say(b *browsertest.Browser, line string) {
	b.Type("the text box", browsertest.ByID("text"), line, true)
}

func TestBrowserVisitorAsksGetsAPersonAndKeepsTheConversation(t *testing.T) {
	b := browsertest.New(t)
	var chatURL string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A shop's page whose own CSS would wreck a careless widget.
		fmt.Fprintf(w, `<!doctype html><html lang="es"><head><title>Tienda</title>
<style>* { font-size: 40px !important; color: red !important; } button { display: none !important; }</style></head>
<body><h1>Zapatos Aurora</h1><script src="%s/chat.js" async></script></body></html>`, chatURL)
	}))
	defer shop.Close()
	s := open(t, t.TempDir(), shop.URL)
	chatURL = s.srv.URL

	b.Go(shop.URL)
	openChat(b)
	say(b, "cuanto tarda un envio a canarias")
	b.WaitText("log", "Canarias, Ceuta y Melilla")

	b.Press("the button for a person", browsertest.Button("Hablar con una persona"))
	b.WaitText("log", "He abierto la solicitud")

	// Ana answers from the agents' inbox, in a browser of her own.
	tk := s.ticketOf(waitForVisitor(t, s))
	agent := browsertest.New(t)
	agent.Go(s.srv.URL + "/inbox")
	agent.Type("the token field", browsertest.ByID("token"), s.agentToken, true)
	agent.Press("the ticket in the queue", func(n *browsertest.Node) bool {
		return n.NodeName == "LI" && browsertest.Attr(n, "data-id") == tk.ID.String()
	})
	agent.WaitText("d-meta", "web")
	agent.Type("the reply box", browsertest.ByID("compose-text"), "Hola, soy Ana: tu pedido sale mañana <b>sin falta</b>.", false)
	agent.Press("the send button", browsertest.Button("Enviar al cliente"))
	b.WaitText("log", "soy Ana: tu pedido sale mañana <b>sin falta</b>.") // live, and as text, not markup
	// Delivered once the visitor's window has shown it.
	agent.WaitText("d-transcript", "entregado ✓")
	agent.Screenshot("inbox-web-1280.png")
	b.Screenshot("chat-1280.png")

	b.Do(chromedp.Reload())
	openChat(b)
	got := b.Text("log")
	for _, want := range []string{"cuanto tarda un envio a canarias", "Canarias, Ceuta y Melilla", "He abierto la solicitud", "soy Ana"} {
		if !strings.Contains(got, want) {
			t.Errorf("after a reload the chat lost %q", want)
		}
	}
	if n := strings.Count(got, "soy Ana"); n != 1 {
		t.Errorf("the agent's reply is shown %d times after a reload, want once", n)
	}

	// ayuda is unreachable for a while: what the visitor types waits in
	// the window, and goes out once when it is back.
	s.down.Store(true)
	say(b, "el pedido es el AUR-4411")
	b.WaitText("status", "Sin conexión")
	b.Do(chromedp.Reload()) // even across a reload
	openChat(b)
	b.WaitText("log", "AUR-4411")
	s.down.Store(false)
	b.WaitText("log", "Añadido a tu solicitud")
	if n := timesOn(s.ticketOf(waitForVisitor(t, s)), "AUR-4411"); n != 1 {
		t.Errorf("the message typed while ayuda was down is on the ticket %d times, want once", n)
	}

	b.Do(chromedp.EmulateViewport(360, 740))
	// The window takes the whole screen once the page sees it is narrow.
	b.Wait("the window across the screen", func(n *browsertest.Node) bool {
		return n.NodeName == "IFRAME" && strings.Contains(browsertest.Attr(n, "style"), "width: 100vw")
	})
	say(b, "gracias, lo espero")
	b.WaitText("log", "gracias, lo espero")
	b.Screenshot("chat-360.png")
}

// waitForVisitor returns the visitor whose request was opened: the only
// one with a ticket.
func waitForVisitor(t *testing.T, s *site) *visitor {
	t.Helper()
	for range 100 {
		ts, err := s.q.List(context.Background(), escalation.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 1 {
			return &visitor{s: s, id: ts[0].Customer.Address.Chat}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no ticket was opened")
	return nil
}
