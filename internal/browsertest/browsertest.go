// Package browsertest drives a real headless Chromium for the tests of
// ayuda's pages (the website chat, the agents' inbox), as a person uses
// them: it finds elements the way the browser lays them out (closed shadow
// roots and same-site frames included), clicks at their middle, types with
// key events and reads what is shown. Only tests import it.
//
// Chromium is Debian's chromium, which make test installs. Without it a
// test says so and is skipped, unless AYUDA_TEST_BROWSER=required (CI),
// which fails it. AYUDA_CHROMIUM names another binary, and
// AYUDA_SCREENSHOTS=dir keeps the screenshots tests take.
package browsertest

import (
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Node is an element of the page.
type Node = cdp.Node

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
	t.Skip("browser test skipped: no Chromium found (make test installs Debian's chromium; or set AYUDA_CHROMIUM)")
	return ""
}

// Browser is one tab of a headless Chromium of the test's own.
type Browser struct {
	t   *testing.T
	ctx context.Context
}

// New starts Chromium with a 1280×800 viewport; it stops with the test.
func New(t *testing.T) *Browser {
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
	// The first Do starts the browser, which lives as long as ctx: no
	// timeout on it; the test's steps get one below.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return &Browser{t: t, ctx: ctx}
}

// Do runs chromedp actions (Navigate, Reload, EmulateViewport…).
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// Go opens url.
func (b *Browser) Go(url string) { b.t.Helper(); b.Do(chromedp.Navigate(url)) }

// Attr is n's attribute name, or "".
func Attr(n *Node, name string) string {
	for i := 0; i+1 < len(n.Attributes); i += 2 {
		if n.Attributes[i] == name {
			return n.Attributes[i+1]
		}
	}
	return ""
}

// ByID matches the element with that id.
func ByID(id string) func(*Node) bool {
	return func(n *Node) bool { return Attr(n, "id") == id }
}

// Button matches a button whose text is label.
func Button(label string) func(*Node) bool {
	return func(n *Node) bool {
		if n.NodeName != "BUTTON" {
			return false
		}
		for _, c := range n.Children {
			if c.NodeType == 3 && strings.TrimSpace(c.NodeValue) == label {
				return true
			}
		}
		return false
	}
}

// Find returns the first element for which match is true, or nil.
func (b *Browser) Find(match func(*Node) bool) *Node {
	b.t.Helper()
	n, _ := b.find(match)
	return n
}

// find also returns each element's parent, by backend node id, for the
// whole page as read.
func (b *Browser) find(match func(*Node) bool) (*Node, map[cdp.BackendNodeID]cdp.BackendNodeID) {
	b.t.Helper()
	parents := map[cdp.BackendNodeID]cdp.BackendNodeID{}
	n, err := chromedp.Run(b.ctx, func(ctx context.Context, t *chromedp.Target) (*cdp.Node, error) {
		depth, pierce := int64(-1), true
		res, err := cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{Depth: &depth, Pierce: &pierce})
		if err != nil {
			return nil, err
		}
		var found *cdp.Node
		var walk func(n, parent *cdp.Node)
		walk = func(n, parent *cdp.Node) {
			if n == nil {
				return
			}
			if parent != nil {
				parents[n.BackendNodeID] = parent.BackendNodeID
			}
			if found == nil && n.NodeType == 1 && match(n) {
				found = n
			}
			for _, c := range n.ShadowRoots {
				walk(c, n)
			}
			walk(n.ContentDocument, n)
			for _, c := range n.Children {
				walk(c, n)
			}
		}
		walk(res.Root, nil)
		return found, nil
	})
	if err != nil {
		b.t.Fatalf("reading the page: %v", err)
	}
	return n, parents
}

// Wait polls until an element matches, and returns it.
func (b *Browser) Wait(what string, match func(*Node) bool) *Node {
	b.t.Helper()
	for {
		if n := b.Find(match); n != nil {
			return n
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("%s never appeared", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Press finds the element match describes, scrolls it into view and
// presses the mouse at its middle, as a person does, once the element
// stays where it is: a page still laying itself out (a list re-drawn, a
// window resized) is waited for, and the element found again, rather than
// clicked beside.
func (b *Browser) Press(what string, match func(*Node) bool) {
	b.t.Helper()
	// box returns where the element is now, scrolled into view; ok is
	// false when it is gone.
	box := func(n *Node) (q dom.Quad, ok bool) {
		q, err := chromedp.Run(b.ctx, func(ctx context.Context, tg *chromedp.Target) (dom.Quad, error) {
			if _, err := cdp.Call(ctx, tg, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: n.BackendNodeID}); err != nil {
				return nil, err
			}
			res, err := cdp.Call(ctx, tg, dom.GetBoxModel, dom.GetBoxModelParams{BackendNodeID: n.BackendNodeID})
			if err != nil {
				return nil, err
			}
			return res.Model.Content, nil
		})
		return q, err == nil && len(q) == 8
	}
	for {
		n := b.Wait(what, match)
		q1, ok1 := box(n)
		time.Sleep(50 * time.Millisecond)
		again := b.Find(match)
		if again != nil && again.BackendNodeID == n.BackendNodeID && ok1 {
			if q2, ok2 := box(again); ok2 && slices.Equal(q1, q2) {
				x, y := (q2[0]+q2[4])/2, (q2[1]+q2[5])/2
				b.Do(chromedp.MouseClickXY(x, y, chromedp.ButtonLeft))
				return
			}
		}
		if b.ctx.Err() != nil {
			b.t.Fatalf("%s never stayed still to be pressed", what)
		}
	}
}

// Type presses the field match describes and types line, then Enter when
// enter is set.
func (b *Browser) Type(what string, match func(*Node) bool, line string, enter bool) {
	b.t.Helper()
	b.Press(what, match)
	steps := []chromedp.Action[chromedp.Void]{chromedp.KeyEvent(line)}
	if enter {
		steps = append(steps, chromedp.KeyEvent(kb.Enter))
	}
	b.Do(steps...)
}

// Title is the tab's title.
func (b *Browser) Title() string {
	b.t.Helper()
	title, err := chromedp.Run(b.ctx, chromedp.Title())
	if err != nil {
		b.t.Fatal(err)
	}
	return title
}

// Text is what the element whose id is id shows, markup removed.
func (b *Browser) Text(id string) string {
	b.t.Helper()
	n := b.Wait("#"+id, ByID(id))
	out, err := chromedp.Run(b.ctx, func(ctx context.Context, tg *chromedp.Target) (string, error) {
		res, err := cdp.Call(ctx, tg, dom.GetOuterHTML, dom.GetOuterHTMLParams{BackendNodeID: n.BackendNodeID})
		return res.OuterHTML, err
	})
	if err != nil {
		b.t.Fatal(err)
	}
	// Tags go, entities are decoded: what a person reads, roughly.
	var sb strings.Builder
	in := false
	for _, r := range out {
		switch {
		case r == '<':
			in = true
			sb.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			sb.WriteRune(r)
		}
	}
	return html.UnescapeString(sb.String())
}

// WaitText polls until the element whose id is id shows want.
func (b *Browser) WaitText(id, want string) {
	b.t.Helper()
	for {
		got := b.Text(id)
		if strings.Contains(got, want) {
			return
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("#%s never showed %q; it shows:\n%s", id, want, got)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// Screenshot keeps what the tab shows as name in AYUDA_SCREENSHOTS, when set.
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("AYUDA_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
