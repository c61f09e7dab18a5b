package kbimport

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"ayuda/faq"
)

// The public intent datasets in their own formats, so their figures can
// be reproduced from the files their authors publish (docs/quality.md):
//
//   - CLINC150 (github.com/clinc/oos-eval, data/data_full.json): one JSON
//     object whose "train", "val" and "test" (and "oos_train", "oos_val",
//     "oos_test") are lists of [utterance, intent] pairs.
//   - Banking77 (github.com/PolyAI-LDN/task-specific-datasets,
//     banking_data/train.csv and test.csv): CSV with the header
//     text,category.
//
// kb import turns the training part into articles, one per intent, its
// utterances the example questions (CLINC150's out-of-scope training
// utterances the out-of-scope examples); eval reads the Question part.

// clincSplits is CLINC150's data_full.json.
type clincSplits map[string][][2]string

// asCLINC reads data as CLINC150's data_full.json, if it is one.
func asCLINC(data []byte) (clincSplits, bool) {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var s clincSplits
	if err := json.Unmarshal(data, &s); err != nil || len(s["train"]) == 0 {
		return nil, false
	}
	return s, true
}

// intentTitle turns an intent name into a title: "accept_reservations" →
// "Accept reservations".
func intentTitle(intent string) string {
	t := strings.ReplaceAll(intent, "_", " ")
	if t == "" {
		return t
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

// intentRecords groups utterances by intent into article records, in the
// order intents first appear; oos utterances become the out-of-scope
// examples.
func intentRecords(pairs [][2]string, oos [][2]string) []Record {
	var out []Record
	at := map[string]int{}
	for _, p := range pairs {
		text, intent := strings.TrimSpace(p[0]), strings.TrimSpace(p[1])
		if text == "" || intent == "" {
			continue
		}
		i, ok := at[intent]
		if !ok {
			i = len(out)
			at[intent] = i
			// The datasets have no answers: the body says what to write
			// (ayuda/shared/eval's conversion writes the same).
			out = append(out, Record{ID: intent, Lang: "en", Title: intentTitle(intent), Body: "Answer for: " + intentTitle(intent) + "."})
		}
		out[i].Questions = append(out[i].Questions, text)
	}
	for _, p := range oos {
		if t := strings.TrimSpace(p[0]); t != "" {
			out = append(out, Record{Q: t, Lang: "en"}) // an out-of-scope example
		}
	}
	return out
}

// numbered is the "line" of each Record read from a dataset: its place.
func numbered(recs []Record) []int {
	lines := make([]int, len(recs))
	for i := range lines {
		lines[i] = i + 1
	}
	return lines
}

// clincRecords are CLINC150's training articles.
func clincRecords(s clincSplits) ([]Record, []int) {
	recs := intentRecords(s["train"], s["oos_train"])
	return recs, numbered(recs)
}

// clincLabelled are CLINC150's validation questions (val and oos_val).
func clincQuestions(s clincSplits) []Question {
	var out []Question
	for _, p := range s["val"] {
		out = append(out, Question{Q: p[0], Lang: "en", Want: p[1]})
	}
	for _, p := range s["oos_val"] {
		out = append(out, Question{Q: p[0], Lang: "en", Want: faq.OutOfScope})
	}
	return out
}

// textCategory reads Banking77's CSV (header text,category) as pairs, or
// reports that data is not one.
func textCategory(data []byte) ([][2]string, bool, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	header, err := cr.Read()
	if err != nil || len(header) != 2 || strings.TrimSpace(header[0]) != "text" || strings.TrimSpace(header[1]) != "category" {
		return nil, false, nil
	}
	var out [][2]string
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, true, nil
		}
		if err != nil {
			return nil, true, err
		}
		if len(row) == 2 {
			out = append(out, [2]string{row[0], row[1]})
		}
	}
}

// datasetQuestions reads Question questions in a dataset's own format:
// CLINC150's data_full.json (its val split) or a Banking77 CSV.
func datasetQuestions(name string, data []byte) ([]Question, bool, error) {
	if s, ok := asCLINC(data); ok {
		return clincQuestions(s), true, nil
	}
	pairs, ok, err := textCategory(data)
	if !ok {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]Question, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, Question{Q: p[0], Lang: "en", Want: p[1]})
	}
	return out, true, nil
}
