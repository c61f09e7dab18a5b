package dialog_test

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"ayuda/bots"
)

// FuzzHandle sends a conversation of up to four messages, split on "\n--\n",
// through the real engine and a fresh store: no panic, every reply valid
// UTF-8 and of bounded size, whatever the text.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		"hola\n--\n¿dónde está mi pedido?\n--\nno\n--\nel pedido AUR-1 no llega",
		"quiero hablar con una persona\n--\n2\n--\n\xff\xfe\n--\n/estado",
		`+a -b "c ~2 /re/` + "\n--\nkb:vpn-acceso\n--\nsolved:1:yes\n--\ntype:denuncia",
		"\u202e\u0000\x1b[31m😀\n--\n@everyone <b>x</b>\n--\n" + strings.Repeat("pedido ", 300),
		"/humano\n--\ncancelar\n--\nquiero poner una queja\n--\nsolved:999999999999999999999:no",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		// A store and engine of their own for every input (the index is
		// shared and read-only), so that an input does the same each time
		// it runs: the fuzzer re-runs inputs to minimise them, and state
		// carried over from the inputs before would make every input look
		// new to it.
		idx, err := fuzzIndex()
		if err != nil {
			t.Fatal(err)
		}
		s := newStackOn(t, idx, memDir(t))
		from := bots.Address{Platform: bots.Telegram, Chat: "fuzz", User: "u1"}
		for i, text := range strings.SplitN(script, "\n--\n", 4) {
			r := s.eng.Handle(t.Context(), bots.Message{From: from, Text: text, Internal: i == 3})
			if !utf8.ValidString(r.Text) {
				t.Fatalf("reply to %q is not UTF-8: %q", text, r.Text)
			}
			if len(r.Text) > 64<<10 {
				t.Fatalf("reply of %d bytes", len(r.Text))
			}
			for _, c := range r.Choices {
				if c.ID == "" || !utf8.ValidString(c.Label) {
					t.Fatalf("bad choice %+v", c)
				}
			}
		}
	})
}

// memDir is a temporary directory in memory (/dev/shm) when the machine
// has one, where the store's fsyncs cost nothing: the fuzzer runs many
// more inputs in its time. Elsewhere it is t.TempDir.
func memDir(t *testing.T) string {
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "ayuda-fuzz-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
