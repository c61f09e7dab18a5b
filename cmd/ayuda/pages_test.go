package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `ayuda serve` serves the website chat and the agents' inbox on its API
// address, wired to the engine, the store and the outbox: a visitor asks
// for a person through the chat's API, the default agent of `make run`
// signs in to the inbox with the token the first start saved, sees the
// ticket and answers, and the visitor's window gets the answer.
func TestServeHasTheWebsiteChatAndTheInbox(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	data := t.TempDir()
	s := startServer(t, serverBinary(t), data)
	defer s.kill()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	do := func(method, path string, headers map[string]string, in any) (int, []byte, http.Header) {
		t.Helper()
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, s.base+path, body)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out, res.Header
	}

	code, _, h := do("GET", "/chat.js", nil, nil)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
		t.Fatalf("/chat.js: %d %s", code, h.Get("Content-Type"))
	}
	if code, page, _ := do("GET", "/chat/demo", nil, nil); code != http.StatusOK || !bytes.Contains(page, []byte(`src="/chat.js"`)) {
		t.Fatalf("/chat/demo: %d", code)
	}
	_, raw, _ := do("POST", "/chat/api/session", nil, map[string]string{})
	var sess struct{ Token string }
	if json.Unmarshal(raw, &sess); sess.Token == "" {
		t.Fatalf("session: %s", raw)
	}
	visitor := map[string]string{"Authorization": "Bearer " + sess.Token}
	_, raw, _ = do("POST", "/chat/api/messages", visitor, map[string]string{"id": "m1", "text": "quiero hablar con una persona, mi pedido 4411 no ha llegado"})
	if !bytes.Contains(raw, []byte("#1")) {
		t.Fatalf("the visitor's request: %s", raw)
	}

	token, err := os.ReadFile(filepath.Join(data, "tokens", "agent-agente"))
	if err != nil {
		t.Fatal(err)
	}
	page := map[string]string{"Origin": s.base}
	code, raw, _ = do("POST", "/inbox/api/login", page, map[string]string{"token": strings.TrimSpace(string(token))})
	var me struct{ CSRF string }
	if json.Unmarshal(raw, &me); code != http.StatusOK || me.CSRF == "" {
		t.Fatalf("signing in with data/tokens/agent-agente: %d %s", code, raw)
	}
	page["X-CSRF-Token"] = me.CSRF
	_, raw, _ = do("GET", "/inbox/api/tickets", nil, nil)
	if !bytes.Contains(raw, []byte(`"channel":"web"`)) || !bytes.Contains(raw, []byte("4411")) {
		t.Fatalf("the inbox's queue: %s", raw)
	}
	if code, raw, _ := do("POST", "/inbox/api/tickets/1/reply", page, map[string]string{"text": "Lo miro ahora mismo."}); code != http.StatusOK {
		t.Fatalf("reply from the inbox: %d %s", code, raw)
	}
	var got []string
	for range 20 {
		_, raw, _ = do("GET", "/chat/api/messages?wait=10s", visitor, nil)
		var r struct {
			Messages []struct {
				Reply struct{ Text string }
			}
		}
		json.Unmarshal(raw, &r)
		for _, m := range r.Messages {
			got = append(got, m.Reply.Text)
		}
		if strings.Contains(strings.Join(got, "\n"), "Lo miro ahora mismo.") {
			return
		}
	}
	t.Fatalf("the visitor never got the agent's reply: %q", got)
}
