package main

import (
	"io"
	"unicode"
	"unicode/utf8"
)

// termSafe passes text to a terminal without the control characters it
// might carry: names, captions and messages come from customers and
// platforms, and an escape sequence in one (a customer named
// "eve\x1b]0;…\x1b[2J") would retitle, clear or rewrite the agent's
// terminal. Newlines and tabs stay; other C0 and C1 controls, DEL, and the
// bidirectional overrides that reorder what is shown become "�", and so do
// bytes that are not UTF-8.
type termSafe struct{ w io.Writer }

func (t termSafe) Write(p []byte) (int, error) {
	clean := true
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if unsafeRune(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return t.w.Write(p)
	}
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if unsafeRune(r, n) {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func unsafeRune(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1:
		return true
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
