package discord

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"ayuda/bots"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, ñ y €", "plain text, ñ y €"},
		{`*bold* _it_ ~~s~~ ` + "`code`" + ` ||spoiler|| > quote \ back`, `\*bold\* \_it\_ \~\~s\~\~ ` + "\\`code\\`" + ` \|\|spoiler\|\| \> quote \\ back`},
		{"# title\n  ## sub\n-# small\nissue #12", "\\# title\n  \\## sub\n-\\# small\nissue #12"},
		{"@everyone @here <@123> <@&456>", "@\u200beveryone @\u200bhere <@\u200b123\\> <@\u200b&456\\>"},
		{"[click](https://evil.example)", `\[click\](https://evil.example)`},
		{"see https://x.example/a_b*c and _this_", "see https://x.example/a_b*c and \\_this\\_"},
		{"- item one\n- item two", "- item one\n- item two"},
	} {
		if got := escape(c.in); got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	words := strings.Repeat("palabra ", 300) // 2,400 characters, no sentences
	emoji := strings.Repeat("😀", 1500)       // 3,000 UTF-16 units
	stars := strings.Repeat("*", 1500)       // escapes to 3,000
	sentences := strings.Repeat("Una frase corta. ", 150)
	for _, c := range []struct {
		name  string
		in    string
		parts int
		check func(t *testing.T, parts []string)
	}{
		{"short", "hola", 1, nil},
		{"paragraphs", strings.Repeat("a", 1500) + "\n\n" + strings.Repeat("b", 1500), 2, func(t *testing.T, p []string) {
			if strings.TrimSpace(p[0]) != strings.Repeat("a", 1500) {
				t.Errorf("first part is not the first paragraph")
			}
		}},
		{"sentences", sentences, 2, func(t *testing.T, p []string) {
			if !strings.HasSuffix(p[0], ". ") {
				t.Errorf("first part ends %q, not after a sentence", p[0][len(p[0])-10:])
			}
		}},
		{"words", words, 2, func(t *testing.T, p []string) {
			if !strings.HasSuffix(p[0], " ") {
				t.Errorf("a word was cut: %q", p[0][len(p[0])-10:])
			}
		}},
		{"emoji counted as two", emoji, 2, nil},
		{"escaping counted", stars, 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			parts := split(c.in, maxContent)
			if len(parts) != c.parts {
				t.Fatalf("parts = %d, want %d", len(parts), c.parts)
			}
			if strings.Join(parts, "") != c.in {
				t.Errorf("parts do not add up to the text")
			}
			for i, p := range parts {
				if n := length(escape(p)); n > maxContent {
					t.Errorf("part %d is %d characters escaped", i, n)
				}
			}
			if c.check != nil {
				c.check(t, parts)
			}
		})
	}
}

func TestButtons(t *testing.T) {
	var choices []bots.Choice
	for i := range 30 {
		choices = append(choices, bots.Choice{ID: fmt.Sprintf("c%d", i), Label: fmt.Sprintf("Opción %d", i)})
	}
	choices[3].ID = strings.Repeat("x", 101) // too long for custom_id: left out
	choices[4].ID = "c0"                     // repeated: left out
	rows := buttons(choices)
	if len(rows) != maxRows {
		t.Fatalf("rows = %d, want %d", len(rows), maxRows)
	}
	var ids []string
	for _, r := range rows {
		row := r.(discordgo.ActionsRow)
		if len(row.Components) > maxButtons {
			t.Errorf("row of %d buttons", len(row.Components))
		}
		for _, c := range row.Components {
			ids = append(ids, c.(discordgo.Button).CustomID)
		}
	}
	if len(ids) != 25 || ids[0] != "c0" || ids[3] != "c5" {
		t.Errorf("ids = %v", ids)
	}
	long := buttons([]bots.Choice{{ID: "a", Label: strings.Repeat("é", 100)}})
	if l := long[0].(discordgo.ActionsRow).Components[0].(discordgo.Button).Label; len([]rune(l)) != maxLabel {
		t.Errorf("label of %d characters, want %d", len([]rune(l)), maxLabel)
	}

	off := disabled([]discordgo.MessageComponent{&discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		&discordgo.Button{CustomID: "yes", Style: discordgo.PrimaryButton}, &discordgo.Button{CustomID: "no", Style: discordgo.PrimaryButton},
	}}}, "no")
	row := off[0].(discordgo.ActionsRow)
	yes, no := row.Components[0].(discordgo.Button), row.Components[1].(discordgo.Button)
	if !yes.Disabled || !no.Disabled || no.Style != discordgo.SuccessButton || yes.Style != discordgo.PrimaryButton {
		t.Errorf("disabled = %+v %+v", yes, no)
	}
}

func TestTokenRedacted(t *testing.T) {
	tok := Token("very-secret")
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "token", tok, "cfg", Config{Token: tok})
	out := buf.String() + fmt.Sprintf("%v %s %+v %#v", tok, tok, Config{Token: tok}, Config{Token: tok})
	if strings.Contains(out, "very-secret") {
		t.Errorf("token leaked: %s", out)
	}
}

// The REST client sends discord.com requests to APIURL, under its path,
// and leaves other hosts alone.
func TestRewriter(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RequestURI())
	}))
	defer srv.Close()
	b, err := New(Config{Token: "t", APIURL: srv.URL + "/proxy/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://discord.com/api/v9/users/@me", "https://discord.com/api/v9/channels/1/messages?after=2&limit=100"} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
		resp, err := b.s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"/proxy/api/v9/users/@me", "/proxy/api/v9/channels/1/messages?after=2&limit=100"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	for _, bad := range []string{"ftp://x", "discord.com", "http://"} {
		if _, err := New(Config{Token: "t", APIURL: bad}); err == nil {
			t.Errorf("APIURL %q accepted", bad)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("no token accepted")
	}
}
