package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"ayuda/config"
)

// readme is the README's text.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// block returns the body of the first fenced block of kind (```text,
// ```yaml, ```json) after the first occurrence of marker.
func block(t *testing.T, doc, marker, kind string) string {
	t.Helper()
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("README lacks %q", marker)
	}
	rest := doc[i:]
	open := strings.Index(rest, "```"+kind+"\n")
	if open < 0 {
		t.Fatalf("README has no ```%s block after %q", kind, marker)
	}
	rest = rest[open+len("```"+kind+"\n"):]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatalf("README: unterminated block after %q", marker)
	}
	return rest[:end]
}

// flat collapses runs of white space, so a reply the README wraps reads as
// the terminal's.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// The README's examples are what ayuda does: the walk-through's two
// terminals, the configuration file, and `ask --json`. Output the README
// elides with … is compared up to the …; wrapped lines are compared
// without their wrapping.
func TestREADME(t *testing.T) {
	doc := readme(t)
	dir := t.TempDir()

	// Terminal 1: the customer.
	term1 := block(t, doc, "Terminal 1, the customer", "text")
	lines := strings.Split(strings.TrimRight(term1, "\n"), "\n")
	as := regexp.MustCompile(`^\$ make run AS=(\S+)$`).FindStringSubmatch(lines[0])
	if as == nil {
		t.Fatalf("the walk-through starts with %q, want `$ make run AS=<name>`", lines[0])
	}
	var input strings.Builder
	var said []string // what the README shows ayuda saying, one reply each
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "> "):
			input.WriteString(strings.TrimPrefix(l, "> ") + "\n")
		case strings.HasPrefix(l, "ayuda: "):
			said = append(said, strings.TrimPrefix(l, "ayuda: "))
		case strings.HasPrefix(l, "       ") && len(said) > 0:
			said[len(said)-1] += " " + strings.TrimSpace(l)
		case strings.HasPrefix(l, "  ") && len(said) > 0:
			said[len(said)-1] += " " + strings.TrimSpace(l)
		}
	}
	out, err := cliTerm(t, dir, input.String(), true, "chat", "--as", as[1])
	if err != nil {
		t.Fatal(err)
	}
	got := flat(out)
	for _, s := range said {
		for _, piece := range strings.Split(s, "…") {
			if p := flat(piece); p != "" && !strings.Contains(got, p) {
				t.Errorf("terminal 1: the README shows %q, ayuda says:\n%s", p, out)
			}
		}
	}

	// Terminal 2: the agent. Every command runs; the listing is as shown.
	term2 := block(t, doc, "Terminal 2, the agent", "text")
	var listing []string
	for _, l := range strings.Split(strings.TrimRight(term2, "\n"), "\n") {
		cmd, ok := strings.CutPrefix(l, "$ bin/ayuda ")
		if !ok {
			listing = append(listing, l)
			continue
		}
		cmd, _, _ = strings.Cut(cmd, "   #")
		cmd, _, _ = strings.Cut(cmd, "  #")
		args := splitArgs(strings.TrimSpace(cmd))
		out, err := cli(t, dir, "", args...)
		if err != nil {
			t.Errorf("`bin/ayuda %s` failed: %v\n%s", cmd, err, out)
			continue
		}
		if strings.HasPrefix(cmd, "tickets list") {
			got := strings.Split(strings.TrimRight(out, "\n"), "\n")
			listing = nil
			defer func(got []string) {
				for i, want := range listing {
					if i >= len(got) || strings.Fields(got[i])[0] != strings.Fields(want)[0] || flat(got[i]) != flat(want) {
						t.Errorf("tickets list: the README shows %q, ayuda prints:\n%s", want, strings.Join(got, "\n"))
					}
				}
			}(got)
		}
	}
	// What terminal 1 then shows, as the comments say.
	out, err = cli(t, dir, "", "chat", "--as", as[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range regexp.MustCompile(`terminal 1 (?:prints|asks):? "([^"]+)"`).FindAllStringSubmatch(term2, -1) {
		if !strings.Contains(flat(out), flat(want[1])) {
			t.Errorf("the README says terminal 1 shows %q; it shows:\n%s", want[1], out)
		}
	}

	// The configuration file, as printed, is a valid one.
	conf := block(t, doc, "## Configuration", "yaml")
	path := write(t, t.TempDir(), "ayuda.yaml", conf)
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the README's configuration: %v", err)
	}
	cfg.Data = t.TempDir()
	a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0))
	if err != nil {
		t.Fatalf("the README's configuration does not open: %v", err)
	}
	a.Close()

	// ask --json.
	askLine := regexp.MustCompile("`ayuda ask --json \"([^\"]+)\"` prints one object:").FindStringSubmatch(doc)
	if askLine == nil {
		t.Fatal("README lacks the ask --json example")
	}
	example := block(t, doc, askLine[0], "json")
	out, err = cli(t, t.TempDir(), "", "ask", "--json", askLine[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range regexp.MustCompile(`"(decision|article|lang|id|title)": "([^"]*)"`).FindAllStringSubmatch(example, -1) {
		want := `"` + field[1] + `": "` + field[2] + `"`
		if !strings.Contains(out, want) {
			t.Errorf("ask --json: the README shows %s, ayuda prints:\n%s", want, out)
		}
	}
}

// splitArgs splits a command line at spaces, keeping "quoted words"
// together.
func splitArgs(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`"([^"]*)"|(\S+)`).FindAllStringSubmatch(s, -1) {
		if m[2] != "" {
			out = append(out, m[2])
		} else {
			out = append(out, m[1])
		}
	}
	return out
}
