// Package console is the terminal channel: one person types lines, ayuda's
// replies and anything queued for them (an agent's answer) are printed, and
// choices are numbered so they can be picked by number or by label.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"ayuda/bots"
)

// Config configures a Bot.
type Config struct {
	In  io.Reader // lines typed by the person
	Out io.Writer // where replies are printed
	// User is who the person is; their Address is {console, User, User}.
	// Empty means "cliente".
	User string
	// Prompt prints a prompt before each line is read (for a terminal).
	Prompt bool
	// Internal marks the person as staff (internal articles allowed).
	Internal bool
	// Width wraps replies at this many columns, indented under "ayuda: "
	// (the terminal's width); 0 means no wrapping (a pipe, a file).
	Width int
}

// Bot is the terminal channel for one person. Send prints messages for
// that person and returns bots.ErrUnreachable for anyone else, so their
// messages wait in the outbox until their own terminal takes them.
type Bot struct {
	cfg  Config
	addr bots.Address

	mu       sync.Mutex // guards out, choices and prompted
	choices  []bots.Choice
	prompted bool // a prompt is on screen, waiting for a line
}

var _ bots.Adapter = (*Bot)(nil)

// New returns a terminal channel.
func New(cfg Config) *Bot {
	if cfg.User == "" {
		cfg.User = "cliente"
	}
	return &Bot{cfg: cfg, addr: Address(cfg.User)}
}

// Address returns the address of terminal user name.
func Address(name string) bots.Address {
	return bots.Address{Platform: bots.Console, Chat: name, User: name}
}

// Addr returns the address of this terminal's person.
func (b *Bot) Addr() bots.Address { return b.addr }

// Run reads lines until the input ends or ctx is done, passing each to h
// and printing the reply. It returns nil at the end of the input.
func (b *Bot) Run(ctx context.Context, h bots.Handler) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(b.cfg.In)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	for {
		b.prompt()
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("console: read: %w", err)
			}
			return nil
		case line := <-lines:
			b.mu.Lock()
			b.prompted = false
			b.mu.Unlock()
			text := strings.TrimSpace(line)
			if text == "" {
				continue
			}
			m := bots.Message{From: b.addr, Name: b.cfg.User, Text: b.resolve(text), Time: time.Now(), Internal: b.cfg.Internal}
			r := h(ctx, m)
			if !r.IsZero() || r.Seen {
				b.Show(r)
			}
		}
	}
}

// resolve turns a typed choice number or label into the choice's ID.
func (b *Bot) resolve(text string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, err := strconv.Atoi(text); err == nil && n >= 1 && n <= len(b.choices) {
		return b.choices[n-1].ID
	}
	for _, c := range b.choices {
		if strings.EqualFold(text, c.Label) {
			return c.ID
		}
	}
	return text
}

func (b *Bot) prompt() {
	if !b.cfg.Prompt {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprint(b.cfg.Out, "> ")
	b.prompted = true
}

// Send prints r if it is for this terminal's person.
func (b *Bot) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	if to != b.addr {
		return bots.ErrUnreachable
	}
	b.Show(r)
	return nil
}

// Show prints a reply, numbering its choices, and remembers the choices
// so the next line can pick one by number. A message that arrives while
// the prompt waits (an agent's answer) is printed over the prompt, which is
// then drawn again.
func (b *Bot) Show(r bots.Reply) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.prompted {
		fmt.Fprint(b.cfg.Out, "\r\033[K")
	}
	fmt.Fprint(b.cfg.Out, FormatWidth(r, b.cfg.Width))
	if b.prompted {
		fmt.Fprint(b.cfg.Out, "> ")
	}
	if len(r.Choices) > 0 {
		b.choices = r.Choices
	}
}

// Format renders a reply for a terminal: "ayuda:" and the text, then the
// choices numbered from 1. A reply that only marks the message as seen
// (added to the person's open request) is a check mark.
func Format(r bots.Reply) string { return FormatWidth(r, 0) }

// indent is where the text of a reply starts, under "ayuda: ".
const indent = "       "

// FormatWidth is Format with lines wrapped at width columns (at spaces,
// never inside a word), continued under the first line's text; width 0
// does not wrap.
func FormatWidth(r bots.Reply, width int) string {
	var s strings.Builder
	if r.IsZero() && r.Seen {
		return "  ✓\n"
	}
	if b := strings.TrimSpace(printable(r.Text)); b != "" {
		s.WriteString("ayuda: ")
		for i, line := range strings.Split(b, "\n") {
			if i > 0 {
				s.WriteByte('\n')
				if line != "" {
					s.WriteString(indent)
				}
			}
			s.WriteString(wrap(line, width-len(indent), "\n"+indent))
		}
		s.WriteByte('\n')
	}
	for i, c := range r.Choices {
		fmt.Fprintf(&s, "  %d) %s\n", i+1, printable(c.Label))
	}
	return s.String()
}

// wrap breaks line into pieces of at most n characters at spaces, joined
// by sep; a word longer than n stays whole. n below 20 does not wrap.
func wrap(line string, n int, sep string) string {
	if n < 20 || utf8.RuneCountInString(line) <= n {
		return line
	}
	var out strings.Builder
	col := 0
	for i, w := range strings.Fields(line) {
		l := utf8.RuneCountInString(w)
		switch {
		case i == 0:
		case col+1+l > n:
			out.WriteString(sep)
			col = 0
		default:
			out.WriteByte(' ')
			col++
		}
		out.WriteString(w)
		col += l
	}
	return out.String()
}

// printable drops control characters (terminal escape sequences among
// them) but newlines and tabs, so no one's text can drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, s)
}
