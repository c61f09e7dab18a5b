package console

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"ayuda/bots"
)

type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *buffer) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// Choices are picked by number or label and reach the handler as their ID.
func TestRunResolvesChoices(t *testing.T) {
	out := &buffer{}
	b := New(Config{In: strings.NewReader("hola\n2\n\nno, gracias\nSí\n"), Out: out, User: "ana"})
	var got []string
	err := b.Run(t.Context(), func(ctx context.Context, m bots.Message) bots.Reply {
		got = append(got, m.Text)
		if m.From != Address("ana") {
			t.Errorf("from %v", m.From)
		}
		return bots.Reply{Text: "¿Sirvió?", Choices: []bots.Choice{{ID: "yes", Label: "Sí"}, {ID: "no", Label: "No"}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"hola", "no", "no, gracias", "yes"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("handler got %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "ayuda: ¿Sirvió?\n  1) Sí\n  2) No\n") {
		t.Errorf("output:\n%s", out)
	}
}

// Send prints for this terminal's person only; others wait in the outbox.
func TestSend(t *testing.T) {
	out := &buffer{}
	b := New(Config{In: strings.NewReader(""), Out: out, User: "ana"})
	if err := b.Send(t.Context(), Address("luis"), bots.Reply{Text: "x"}); !errors.Is(err, bots.ErrUnreachable) {
		t.Errorf("send to another person: %v", err)
	}
	if err := b.Send(t.Context(), Address("ana"), bots.Reply{Text: "Ana (solicitud #1):\nhola\n\nadiós"}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "ayuda: Ana (solicitud #1):\n       hola\n\n       adiós\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// No one's text can move the cursor, change colours or clear the screen.
func TestFormatStripsControls(t *testing.T) {
	got := Format(bots.Reply{Text: "hola \x1b[2J\x1b[31mrojo\x07", Choices: []bots.Choice{{ID: "a", Label: "\x1b]0;title\x07ok"}}})
	if strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("control characters survived: %q", got)
	}
}

// In a terminal, long lines wrap at its width under the first line's text,
// at spaces; lists and blank lines keep their shape.
func TestFormatWrapsAtWidth(t *testing.T) {
	r := bots.Reply{Text: "Enviamos a España, Portugal y el resto de la Unión Europea con plazos distintos.\n\n- Baleares: 3–5 días", Choices: []bots.Choice{{ID: "yes", Label: "Sí"}}}
	got := FormatWidth(r, 40)
	want := "ayuda: Enviamos a España, Portugal y el\n" +
		"       resto de la Unión Europea con\n" +
		"       plazos distintos.\n" +
		"\n" +
		"       - Baleares: 3–5 días\n" +
		"  1) Sí\n"
	if got != want {
		t.Errorf("wrapped:\n%s\nwant:\n%s", got, want)
	}
	for _, line := range strings.Split(got, "\n") {
		if n := utf8.RuneCountInString(line); n > 40 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	if FormatWidth(r, 0) != Format(r) || strings.Count(Format(r), "\n") != 4 {
		t.Errorf("width 0 wraps: %q", Format(r))
	}
}
