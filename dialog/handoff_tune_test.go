package dialog_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"testing"

	"ayuda/dialog"
)

// handoff/messages.jsonl holds 220 messages written apart from the engine
// (130 a person must take at once, 90 ordinary questions with words that
// could mislead a bot: "¿en qué horario puedo hablar con un asesor?",
// "how do I report a fraudulent email?"). The handoff rules were tuned on
// them, so this guards against regressions; it is not a quality figure
// (docs/quality.md has those, on sets nobody tuned on).
func TestHandoffRules(t *testing.T) {
	f, err := os.Open("handoff/messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	eng, err := dialog.New(dialog.Config{Search: sharedIndex(t)})
	if err != nil {
		t.Fatal(err)
	}
	var n, right int
	askEach(t, eng, f, func(q labelled, d dialog.Decision) {
		n++
		if (d.Decision == dialog.Escalate) == (q.Want == "human") {
			right++
			return
		}
		t.Logf("want %s, got %s %s: %s", q.Want, d.Decision, d.Reason, q.Q)
	})
	if n != 670 || float64(right) < 0.97*float64(n) {
		t.Errorf("%d of %d handled as labelled; want at least 97%%", right, n)
	}
}

// labelled is a line of a labelled set: {"q", "lang", "want"}.
type labelled struct{ Q, Lang, Want string }

// askEach asks eng every line of r and hands each decision to do.
func askEach(t *testing.T, eng *dialog.Engine, r io.Reader, do func(labelled, dialog.Decision)) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var q labelled
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			t.Fatal(err)
		}
		d, err := eng.Ask(t.Context(), q.Q, q.Lang, false)
		if err != nil {
			t.Fatal(err)
		}
		do(q, d)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
