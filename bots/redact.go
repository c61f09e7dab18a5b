package bots

import (
	"context"
	"log/slog"
	"strings"
)

// Redactor removes secrets (the platforms' tokens) from text: an upstream
// that echoes the request (a misconfigured proxy or API URL) puts the
// token in the error the SDK returns, and from there it would reach the
// log and the outbox's record of the failed attempt.
type Redactor struct{ secrets []string }

// NewRedactor redacts each of secrets; empty ones and ones too short to
// be tokens are ignored, so ordinary words are never blanked.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s = strings.TrimSpace(s); len(s) >= 8 {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// Redact returns s with every secret replaced by "[redacted]".
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// Handler wraps h so that no record it writes carries a secret, in its
// message or in any attribute (errors included).
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if r == nil || len(r.secrets) == 0 {
		return h
	}
	return redactHandler{h: h, r: r}
}

type redactHandler struct {
	h slog.Handler
	r *Redactor
}

func (x redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return x.h.Enabled(ctx, l) }

func (x redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, x.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(x.attr(a))
		return true
	})
	return x.h.Handle(ctx, out)
}

func (x redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = x.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindString:
		return slog.String(a.Key, x.r.Redact(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, x.r.Redact(err.Error()))
		}
		if s, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, x.r.Redact(s.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (x redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = x.attr(a)
	}
	return redactHandler{h: x.h.WithAttrs(out), r: x.r}
}

func (x redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h: x.h.WithGroup(name), r: x.r}
}
