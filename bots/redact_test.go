package bots

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactorKeepsTokensOutOfLogs(t *testing.T) {
	const tok = "123456:AAE-secret-telegram-token"
	r := NewRedactor(tok, "", "short")
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewTextHandler(&buf, nil))).With("url", "https://api.telegram.org/bot"+tok+"/getMe")
	echo := fmt.Errorf("telegram: send: %w", errors.New(`bad gateway: POST /bot`+tok+`/sendMessage`))
	log.Error("send failed "+tok, "err", echo, slog.Group("req", "path", "/bot"+tok))
	if strings.Contains(buf.String(), tok) || strings.Count(buf.String(), "[redacted]") != 4 {
		t.Errorf("log:\n%s", buf.String())
	}
	if got := r.Redact("a short word"); got != "a short word" {
		t.Errorf("short secrets are ignored, got %q", got)
	}
}
