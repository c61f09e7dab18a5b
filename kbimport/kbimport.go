// Package kbimport reads knowledge bases in the eval format
// (../shared/eval/README.md: JSON lines or CSV of articles, out-of-scope
// questions and labelled questions) and the public intent datasets in
// their own formats, and turns articles into article files.
package kbimport

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"ayuda/faq"
)

// Record is one line of an articles file in the eval format, or one
// out-of-scope question ({"q", "lang"}).
type Record struct {
	ID        string   `json:"id"`
	Lang      string   `json:"lang"`
	Title     string   `json:"title"`
	Questions []string `json:"questions"`
	Body      string   `json:"body"`
	Q         string   `json:"q"`
	Want      string   `json:"want"`
}

// readRecords reads a .jsonl or .csv file of articles and out-of-scope
// questions, each with its line; or a public dataset in its own format
// (datasets.go), whose records have no line.
func readRecords(path string) ([]Record, []int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if c, ok := asCLINC(data); ok {
		recs, lines := clincRecords(c)
		return recs, lines, nil
	}
	if pairs, ok, err := textCategory(data); ok {
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		recs := intentRecords(pairs, nil)
		return recs, numbered(recs), nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json", ".ndjson":
		return jsonRecords(path, data)
	case ".csv":
		return csvRecords(path, data)
	}
	return nil, nil, fmt.Errorf("%s: unknown format: use .jsonl (one JSON object a line) or .csv", path)
}

func jsonRecords(path string, data []byte) ([]Record, []int, error) {
	var out []Record
	var lines []int
	err := eachJSONLine(path, data, func(n int, r Record) error {
		out = append(out, r)
		lines = append(lines, n)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, lines, nil
}

// eachJSONLine decodes each non-empty line of data (JSON Lines, named name
// in errors) as a T and passes it to fn with its line number.
func eachJSONLine[T any](name string, data []byte, fn func(n int, v T) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if err := fn(n, v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// csvColumns are the columns of the CSV format; questions are separated
// by "|".
var csvColumns = []string{"id", "lang", "title", "questions", "body"}

func csvRecords(path string, data []byte) ([]Record, []int, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s:1: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, c := range csvColumns {
		if _, ok := col[c]; !ok {
			return nil, nil, fmt.Errorf("%s:1: the header must name the columns %s; %q is missing", path, strings.Join(csvColumns, ","), c)
		}
	}
	var out []Record
	var lines []int
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		if len(row) != len(header) {
			return nil, nil, fmt.Errorf("%s:%d: %d fields, the header has %d", path, line, len(row), len(header))
		}
		r := Record{ID: row[col["id"]], Lang: row[col["lang"]], Title: row[col["title"]], Body: row[col["body"]]}
		for _, q := range strings.Split(row[col["questions"]], "|") {
			if q = strings.TrimSpace(q); q != "" {
				r.Questions = append(r.Questions, q)
			}
		}
		out = append(out, r)
		lines = append(lines, line)
	}
	return out, lines, nil
}

// frontMatter is an article file's YAML, in the order people read it.
type frontMatter struct {
	ID        string   `yaml:"id"`
	Lang      string   `yaml:"lang"`
	Title     string   `yaml:"title,omitempty"`
	Questions []string `yaml:"questions"`
	Tags      []string `yaml:"tags,omitempty,flow"`
	Audience  string   `yaml:"audience,omitempty"`
	Type      string   `yaml:"type,omitempty"`
}

// articleFile renders an entry as an article file: Markdown with YAML
// front matter.
func ArticleFile(e faq.Entry) ([]byte, error) {
	fm := frontMatter{ID: e.ID, Lang: e.Lang, Title: e.Title, Questions: e.Questions, Tags: e.Tags, Audience: e.Audience, Type: e.Type}
	y, err := yaml.Marshal(fm)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("---\n")
	b.Write(y)
	b.WriteString("---\n")
	if e.Body != "" {
		b.WriteString(strings.TrimSpace(e.Body))
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

// Article is an article converted from a records file, with its file.
type Article struct {
	Entry faq.Entry
	Name  string // path of the article file, relative to the output folder
	Data  []byte // the article file
}

// convert turns records into article files and validates them as the
// loader will: every problem is reported with the input file and line.
// Out-of-scope questions become one faq.OutOfScope article per language.
func convert(path string, recs []Record, lines []int) ([]Article, error) {
	var out []Article
	var problems []string
	outOfScope := map[string]*faq.Entry{}
	var langs []string
	where := func(i int) string { return fmt.Sprintf("%s:%d", path, lines[i]) }
	for i, r := range recs {
		lang := strings.ToLower(strings.TrimSpace(r.Lang))
		switch {
		case r.ID == "" && r.Q != "":
			if r.Want != "" && r.Want != faq.OutOfScope {
				problems = append(problems, fmt.Sprintf("%s: a labelled question (want %q), not an article: pass this file to ayuda eval", where(i), r.Want))
				continue
			}
			e := outOfScope[lang]
			if e == nil {
				e = &faq.Entry{ID: faq.OutOfScope, Lang: lang, Title: "Out of scope", Audience: faq.Public}
				outOfScope[lang] = e
				langs = append(langs, lang)
			}
			e.Questions = append(e.Questions, oneLine(r.Q))
			continue
		case r.ID == "" && r.Title == "":
			problems = append(problems, fmt.Sprintf("%s: neither an article (id, lang, title, questions, body) nor an out-of-scope question (q, lang)", where(i)))
			continue
		}
		e := faq.Entry{ID: strings.TrimSpace(r.ID), Lang: lang, Title: oneLine(r.Title), Body: r.Body, Audience: faq.Public}
		for _, q := range r.Questions {
			e.Questions = append(e.Questions, oneLine(q))
		}
		im, err := render(e)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where(i), err))
			continue
		}
		im.Entry.Source = where(i)
		out = append(out, im)
	}
	for _, lang := range langs {
		im, err := render(*outOfScope[lang])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: out-of-scope questions in %q: %v", path, lang, err))
			continue
		}
		im.Entry.Source = fmt.Sprintf("%s (out-of-scope questions, %s)", path, lang)
		out = append(out, im)
	}
	entries := make([]faq.Entry, len(out))
	for i, im := range out {
		entries[i] = im.Entry
	}
	for _, e := range faq.Validate(entries) {
		problems = append(problems, e.Error())
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return out, nil
}

// oneLine joins the lines of a title or question: each is one line in an
// article file.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// render writes an entry as an article file and parses it back, so that
// what is Article is exactly what the loader accepts.
func render(e faq.Entry) (Article, error) {
	name := filepath.ToSlash(filepath.Join(e.Lang, e.ID+".md"))
	if e.Lang == "" || strings.ContainsAny(e.Lang, `/\.`) {
		name = e.ID + ".md"
	}
	data, err := ArticleFile(e)
	if err != nil {
		return Article{}, err
	}
	parsed, err := faq.Parse(name, data)
	if err != nil {
		var fe *faq.Error
		if errors.As(err, &fe) {
			return Article{}, errors.New(fe.Msg)
		}
		return Article{}, err
	}
	return Article{Entry: parsed, Name: name, Data: data}, nil
}

// Load reads and converts one or more records files.
func Load(paths ...string) ([]Article, error) {
	var out []Article
	for _, p := range paths {
		recs, lines, err := readRecords(p)
		if err != nil {
			return nil, err
		}
		ims, err := convert(p, recs, lines)
		if err != nil {
			return nil, err
		}
		out = append(out, ims...)
	}
	entries := make([]faq.Entry, len(out))
	for i, im := range out {
		entries[i] = im.Entry
	}
	if errs := faq.Validate(entries); len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
