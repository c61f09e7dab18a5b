package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"ayuda/escalation"
)

// The website chat in a real headless Chromium (Debian's chromium, which
// make test installs): a visitor on a shop's page (another origin) asks,
// gets the answer, asks for a person, sees the agent's reply arrive
// without reloading, reloads and still sees the conversation.
//
// Without Chromium the test says so and is skipped, unless
// AYUDA_TEST_BROWSER=required (.ci/run sets it). AYUDA_SCREENSHOTS=dir
// keeps screenshots at 1280 and 360 px wide.

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AYUDA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AYUDA_TEST_BROWSER") == "required" {
		t.Fatal("no Chromium found (AYUDA_TEST_BROWSER=required): install Debian's chromium (make test does) or set AYUDA_CHROMIUM")
	}
	t.Skip("browser tests skipped: no Chromium found (make test installs Debian's chromium; or set AYUDA_CHROMIUM)")
	return ""
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // as root on CI machines
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser, which lives as long as ctx: no
	// timeout on it; the test's steps get one below.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

func attr(n *cdp.Node, name string) string {
	for i := 0; i+1 < len(n.Attributes); i += 2 {
		if n.Attributes[i] == name {
			return n.Attributes[i+1]
		}
	}
	return ""
}

// find returns the first element, anywhere in the page (closed shadow
// roots and same-site frames included, as the browser sees them), for
// which match is true; nil if there is none.
func find(ctx context.Context, match func(*cdp.Node) bool) (*cdp.Node, error) {
	return chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (*cdp.Node, error) {
		depth, pierce := int64(-1), true
		res, err := cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{Depth: &depth, Pierce: &pierce})
		if err != nil {
			return nil, err
		}
		var found *cdp.Node
		var walk func(n *cdp.Node)
		walk = func(n *cdp.Node) {
			if found != nil || n == nil {
				return
			}
			if n.NodeType == 1 && match(n) {
				found = n
				return
			}
			for _, c := range n.ShadowRoots {
				walk(c)
			}
			walk(n.ContentDocument)
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(res.Root)
		return found, nil
	})
}

func byID(id string) func(*cdp.Node) bool {
	return func(n *cdp.Node) bool { return attr(n, "id") == id }
}

// waitFor polls until an element matches.
func waitFor(t *testing.T, ctx context.Context, what string, match func(*cdp.Node) bool) *cdp.Node {
	t.Helper()
	for {
		n, err := find(ctx, match)
		if err != nil {
			t.Fatalf("looking for %s: %v", what, err)
		}
		if n != nil {
			return n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// click presses the mouse at the middle of n, as a person does.
func click(t *testing.T, ctx context.Context, n *cdp.Node) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		box, err := cdp.Call(ctx, tg, dom.GetBoxModel, dom.GetBoxModelParams{BackendNodeID: n.BackendNodeID})
		if err != nil {
			return err
		}
		q := box.Model.Content
		x, y := (q[0]+q[4])/2, (q[1]+q[5])/2
		_, err = chromedp.MouseClickXY(x, y, chromedp.ButtonLeft)(ctx, tg)
		return err
	}))
	if err != nil {
		t.Fatalf("click: %v", err)
	}
}

// logText is what the chat window shows.
func logText(t *testing.T, ctx context.Context) string {
	t.Helper()
	n := waitFor(t, ctx, "the chat's log", byID("log"))
	out, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (string, error) {
		res, err := cdp.Call(ctx, tg, dom.GetOuterHTML, dom.GetOuterHTMLParams{BackendNodeID: n.BackendNodeID})
		return res.OuterHTML, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return html.UnescapeString(out)
}

func waitText(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	defer func(start time.Time) { t.Logf("%q after %v", want, time.Since(start)) }(time.Now())
	for {
		got := logText(t, ctx)
		if strings.Contains(got, want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the chat never showed %q; it shows:\n%s", want, got)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("AYUDA_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func openChat(t *testing.T, ctx context.Context) {
	t.Helper()
	button := waitFor(t, ctx, "the chat button", func(n *cdp.Node) bool {
		return n.NodeName == "BUTTON" && attr(n, "aria-expanded") != ""
	})
	waitFor(t, ctx, "the chat window", byID("text"))
	click(t, ctx, button)
	// The window is shown once open.
	for {
		n, err := find(ctx, func(n *cdp.Node) bool { return n.NodeName == "IFRAME" })
		if err != nil {
			t.Fatal(err)
		}
		if n != nil && !strings.Contains(attr(n, "style"), "display: none") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func typeLine(t *testing.T, ctx context.Context, line string) {
	t.Helper()
	click(t, ctx, waitFor(t, ctx, "the text box", byID("text")))
	if err := chromedp.Do(ctx, chromedp.KeyEvent(line), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserVisitorAsksGetsAPersonAndKeepsTheConversation(t *testing.T) {
	ctx := newBrowser(t)
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

	if err := chromedp.Do(ctx, chromedp.Navigate(shop.URL)); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	typeLine(t, ctx, "cuanto tarda un envio a canarias")
	waitText(t, ctx, "Canarias, Ceuta y Melilla")

	human := waitFor(t, ctx, "the button for a person", func(n *cdp.Node) bool {
		if n.NodeName != "BUTTON" {
			return false
		}
		for _, c := range n.Children {
			if c.NodeType == 3 && c.NodeValue == "Hablar con una persona" {
				return true
			}
		}
		return false
	})
	click(t, ctx, human)
	waitText(t, ctx, "He abierto la solicitud")

	visitor := waitForVisitor(t, s)
	tk := s.ticketOf(visitor)
	if _, err := s.q.Reply(context.Background(), tk.ID, "ana", "Hola, soy Ana: tu pedido sale mañana <b>sin falta</b>."); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "soy Ana: tu pedido sale mañana <b>sin falta</b>.") // as text, not markup
	screenshot(t, ctx, "chat-1280.png")

	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	got := logText(t, ctx)
	for _, want := range []string{"cuanto tarda un envio a canarias", "Canarias, Ceuta y Melilla", "He abierto la solicitud", "soy Ana"} {
		if !strings.Contains(got, want) {
			t.Errorf("after a reload the chat lost %q", want)
		}
	}
	if n := strings.Count(got, "soy Ana"); n != 1 {
		t.Errorf("the agent's reply is shown %d times after a reload, want once", n)
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740)); err != nil {
		t.Fatal(err)
	}
	typeLine(t, ctx, "gracias")
	waitText(t, ctx, "gracias")
	screenshot(t, ctx, "chat-360.png")
}

// waitForVisitor returns the visitor whose request was opened: the only
// one with a ticket.
func waitForVisitor(t *testing.T, s *site) *visitor {
	t.Helper()
	for i := 0; i < 100; i++ {
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
