package kbimport

import (
	"fmt"
	"strings"

	"ayuda/faq"
)

// Question is a Question question: the article it should get, faq.OutOfScope
// when it should be declined, or Human when a person should take it.
type Question struct {
	Q    string `json:"q"`
	Lang string `json:"lang"`
	Want string `json:"want"`
}

// ReadQuestions reads Question questions: JSON lines of {"q", "lang",
// "want"}, or a public dataset's Question part (CLINC150's val split,
// Banking77's test.csv).
func ReadQuestions(name string, data []byte) ([]Question, error) {
	if ls, ok, err := datasetQuestions(name, data); ok {
		if err == nil && len(ls) == 0 {
			err = fmt.Errorf("%s: no Question questions", name)
		}
		return ls, err
	}
	var out []Question
	err := eachJSONLine(name, data, func(n int, l Question) error {
		if strings.TrimSpace(l.Q) == "" || l.Want == "" {
			return fmt.Errorf("%s:%d: a Question question needs \"q\" and \"want\" (an article id, or %q)", name, n, faq.OutOfScope)
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Question questions", name)
	}
	return out, nil
}

// Human labels a question a person should take (escalate.jsonl).
const Human = "human"
