package dialog_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/bots/console"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/knowledge"
)

var update = flag.Bool("update", false, "rewrite the transcripts in testdata with what the engine says now")

// TestTranscripts replays each testdata/*.txt conversation through the
// console channel, the real engine, the knowledge index over the built-in
// articles and a bbolt store, and compares what was said with the file.
//
// In a transcript, "> text" is what the customer types; "! action" is
// something that happens outside the chat:
//
//	! as NAME                  the customer is now NAME (another terminal)
//	! agent claim|note|reply|status ID [TEXT]   an agent acts (as "ana")
//	! deliver                  the outbox dispatcher makes a pass
//	! restart                  the process stops and starts on the same files
//	! wait DURATION            time passes (Go syntax: 8h, 30m)
//	! watchdog                 the service protocol's watchdog makes a pass
//	! ticket ID                print what an agent would see of the ticket
//
// "# text" is a comment. Every other line is output, and -update rewrites it.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, string(data))
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(data) {
				t.Errorf("transcript differs (run go test ./dialog -run TestTranscripts -update and read the diff):\n%s", diff(string(data), got))
			}
		})
	}
}

// clock is 10:00 on a Tuesday in Madrid, moving a second per reading.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

var madrid = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		panic(err)
	}
	return loc
}()

// harness is one running ayuda: store, index, engine, and a terminal.
type harness struct {
	t     *testing.T
	dir   string
	clk   *clock
	idx   *knowledge.Index
	q     *escalation.Queue
	eng   *dialog.Engine
	out   strings.Builder
	term  *terminal
	agent string
}

func newHarness(t *testing.T) *harness {
	idx := sharedIndex(t)
	h := &harness{t: t, dir: t.TempDir(), clk: &clock{time.Date(2026, 11, 24, 10, 0, 0, 0, madrid)}, idx: idx, agent: "ana"}
	h.open()
	t.Cleanup(func() { h.term.close(); h.q.Close() })
	h.term = h.newTerminal("maria")
	return h
}

func (h *harness) open() {
	cal, err := escalation.NewCalendar(madrid, escalation.DefaultHours(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	q, err := escalation.Open(filepath.Join(h.dir, "ayuda.db"), escalation.Config{
		Agents:   []escalation.Agent{{ID: "ana", Name: "Ana"}, {ID: "luis", Name: "Luis"}},
		Notify:   dialog.Notifier(),
		Now:      h.clk.now,
		Calendar: cal,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	eng, err := dialog.New(dialog.Config{Search: h.idx, Queue: q, Location: madrid, Now: h.clk.now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.q, h.eng = q, eng
}

// terminal is a console channel fed line by line, whose output is read
// write by write (Show makes exactly one Write per reply).
type terminal struct {
	bot     *console.Bot
	in      *io.PipeWriter
	writes  chan string
	replied chan bool // after each turn: whether the reply says something
	done    chan error
	cancel  context.CancelFunc
}

type chanWriter chan string

func (w chanWriter) Write(p []byte) (int, error) { w <- string(p); return len(p), nil }

func (h *harness) newTerminal(name string) *terminal {
	pr, pw := io.Pipe()
	tm := &terminal{in: pw, writes: make(chan string, 16), replied: make(chan bool, 1), done: make(chan error, 1)}
	tm.bot = console.New(console.Config{In: pr, Out: chanWriter(tm.writes), User: name})
	ctx, cancel := context.WithCancel(context.Background())
	tm.cancel = cancel
	handler := func(ctx context.Context, m bots.Message) bots.Reply {
		m.Time = time.Time{} // the engine's clock, not the wall clock
		r := h.eng.Handle(ctx, m)
		tm.replied <- !r.IsZero() || r.Seen
		return r
	}
	go func() { tm.done <- tm.bot.Run(ctx, handler) }()
	return tm
}

func (tm *terminal) close() {
	tm.in.Close()
	if err := <-tm.done; err != nil {
		panic(err)
	}
	tm.cancel()
}

func (h *harness) say(line string) {
	if _, err := io.WriteString(h.term.in, line+"\n"); err != nil {
		h.t.Fatal(err)
	}
	if <-h.term.replied {
		h.out.WriteString(<-h.term.writes)
	}
}

func (h *harness) do(action string) {
	f := strings.Fields(action)
	switch {
	case f[0] == "as" && len(f) == 2:
		h.term.close()
		h.term = h.newTerminal(f[1])
	case f[0] == "deliver":
		// The terminal's own Send prints synchronously; others stay queued.
		next, err := h.q.DispatchOnce(context.Background(), escalation.SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error {
			err := h.term.bot.Send(ctx, to, r)
			if err == nil {
				h.out.WriteString(<-h.term.writes)
			}
			return err
		}))
		if err != nil {
			h.t.Fatal(err)
		}
		_ = next
	case f[0] == "wait" && len(f) == 2:
		d, err := time.ParseDuration(f[1])
		if err != nil {
			h.t.Fatal(err)
		}
		h.clk.t = h.clk.t.Add(d)
	case f[0] == "watchdog":
		if err := h.q.WatchdogOnce(context.Background()); err != nil {
			h.t.Fatal(err)
		}
	case f[0] == "restart":
		h.term.close()
		if err := h.q.Close(); err != nil {
			h.t.Fatal(err)
		}
		h.open()
		h.term = h.newTerminal(h.term.bot.Addr().User)
	case f[0] == "ticket" && len(f) == 2:
		id, err := escalation.ParseID(f[1])
		if err != nil {
			h.t.Fatal(err)
		}
		tk, err := h.q.Get(context.Background(), id)
		if err != nil {
			fmt.Fprintf(&h.out, "  error: %v\n", err)
			return
		}
		writeTicket(&h.out, tk)
	case f[0] == "agent" && len(f) >= 3:
		id, err := escalation.ParseID(f[2])
		if err != nil {
			h.t.Fatal(err)
		}
		text := strings.Join(f[3:], " ")
		ctx := context.Background()
		switch f[1] {
		case "claim":
			_, err = h.q.Claim(ctx, id, h.agent)
		case "reply":
			_, err = h.q.Reply(ctx, id, h.agent, text)
		case "note":
			_, err = h.q.Note(ctx, id, h.agent, text)
		case "status":
			var st escalation.Status
			if st, err = escalation.ParseStatus(text); err == nil {
				_, err = h.q.SetStatus(ctx, id, h.agent, st)
			}
		case "classify":
			typ, prio, _ := strings.Cut(text, " ")
			_, err = h.q.Classify(ctx, id, h.agent, escalation.Type(typ), escalation.Priority(prio))
		default:
			h.t.Fatalf("unknown agent action %q", action)
		}
		if err != nil {
			fmt.Fprintf(&h.out, "  error: %v\n", err)
		}
	default:
		h.t.Fatalf("unknown action %q", action)
	}
}

func writeTicket(w io.Writer, tk *escalation.Ticket) {
	fmt.Fprintf(w, "  ticket #%d: %s, %s, priority %s, reason %s, assignee %q, customer %s (%s)\n",
		tk.ID, tk.Status, tk.Type, tk.Priority, tk.Reason, tk.Assignee, tk.Customer.Address, tk.Customer.Lang)
	fmt.Fprintf(w, "  summary: %s\n", tk.Summary)
	for _, o := range tk.Offered {
		fmt.Fprintf(w, "  offered: %s confidence %.2f feedback %q\n", o.Article, o.Confidence, o.Feedback)
	}
	for _, e := range tk.Transcript {
		text := e.Text
		if r := []rune(text); len(r) > 60 {
			text = string(r[:60]) + "…"
		}
		note := ""
		if e.Note {
			note = " (note)"
		}
		fmt.Fprintf(w, "  | %s%s: %s\n", e.Author, note, strings.ReplaceAll(text, "\n", " "))
	}
	if len(tk.Earlier) > 0 {
		fmt.Fprintf(w, "  earlier: %v\n", tk.Earlier)
	}
	if tk.TypeReason != "" || tk.PriorityReason != "" {
		fmt.Fprintf(w, "  why: type: %s; priority: %s\n", tk.TypeReason, tk.PriorityReason)
	}
	if tk.ClosedAs != "" {
		fmt.Fprintf(w, "  closed as: %s\n", tk.ClosedAs)
	}
	if r := tk.Rating; r != nil {
		fmt.Fprintf(w, "  rating: %d %q\n", r.Score, r.Comment)
	}
}

// replay runs a transcript and returns it as it comes out now.
func replay(t *testing.T, script string) string {
	h := newHarness(t)
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "> "):
			h.out.WriteString(line + "\n")
			h.say(strings.TrimPrefix(line, "> "))
		case strings.HasPrefix(line, "! "):
			h.out.WriteString(line + "\n")
			h.do(strings.TrimPrefix(line, "! "))
		case strings.HasPrefix(line, "#"):
			h.out.WriteString(line + "\n")
		}
	}
	return h.out.String()
}

// diff shows the first differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant: %s\ngot:  %s", i+1, a, b)
		}
	}
	return ""
}
