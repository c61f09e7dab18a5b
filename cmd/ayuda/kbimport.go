package main

// `ayuda kb import`: articles in the eval format (../shared/eval/README.md),
// JSON lines or CSV, turned into article files.

import (
	"bufio"
	"bytes"
	"context"
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

// record is one line of an articles file in the eval format, or one
// out-of-scope question ({"q", "lang"}).
type record struct {
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
func readRecords(path string) ([]record, []int, error) {
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

func jsonRecords(path string, data []byte) ([]record, []int, error) {
	var out []record
	var lines []int
	err := eachJSONLine(path, data, func(n int, r record) error {
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

func csvRecords(path string, data []byte) ([]record, []int, error) {
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
	var out []record
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
		r := record{ID: row[col["id"]], Lang: row[col["lang"]], Title: row[col["title"]], Body: row[col["body"]]}
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
func articleFile(e faq.Entry) ([]byte, error) {
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

// imported is an article converted from a records file, with its file.
type imported struct {
	entry faq.Entry
	name  string // path of the article file, relative to the output folder
	data  []byte
}

// convert turns records into article files and validates them as the
// loader will: every problem is reported with the input file and line.
// Out-of-scope questions become one faq.OutOfScope article per language.
func convert(path string, recs []record, lines []int) ([]imported, error) {
	var out []imported
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
		im.entry.Source = where(i)
		out = append(out, im)
	}
	for _, lang := range langs {
		im, err := render(*outOfScope[lang])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: out-of-scope questions in %q: %v", path, lang, err))
			continue
		}
		im.entry.Source = fmt.Sprintf("%s (out-of-scope questions, %s)", path, lang)
		out = append(out, im)
	}
	entries := make([]faq.Entry, len(out))
	for i, im := range out {
		entries[i] = im.entry
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
// what is imported is exactly what the loader accepts.
func render(e faq.Entry) (imported, error) {
	name := filepath.ToSlash(filepath.Join(e.Lang, e.ID+".md"))
	if e.Lang == "" || strings.ContainsAny(e.Lang, `/\.`) {
		name = e.ID + ".md"
	}
	data, err := articleFile(e)
	if err != nil {
		return imported{}, err
	}
	parsed, err := faq.Parse(name, data)
	if err != nil {
		var fe *faq.Error
		if errors.As(err, &fe) {
			return imported{}, errors.New(fe.Msg)
		}
		return imported{}, err
	}
	return imported{entry: parsed, name: name, data: data}, nil
}

// loadRecords reads and converts one or more records files.
func loadRecords(paths ...string) ([]imported, error) {
	var out []imported
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
		entries[i] = im.entry
	}
	if errs := faq.Validate(entries); len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// cmdKBTools runs the kb subcommands of this file.
func cmdKBTools(ctx context.Context, e *env, args []string) error {
	switch args[0] {
	case "import":
		return cmdKBImport(e, args[1:])
	case "report":
		return cmdKBReport(ctx, e, args[1:])
	case "suggest":
		return cmdKBSuggest(ctx, e, args[1:])
	}
	return fmt.Errorf("kb: unknown action %q", args[0])
}

// progressEvery is how many article files kb import writes between two
// lines of progress.
const progressEvery = 1000

func cmdKBImport(e *env, args []string) error {
	fs, _ := newFlags("kb import", e)
	out := fs.String("out", "articles", "folder to write the article files to")
	force := fs.Bool("force", false, "overwrite article files that exist")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("kb import: usage: ayuda kb import FILE.jsonl|FILE.csv... [--out DIR]")
	}
	ims, err := loadRecords(files...)
	if err != nil {
		return fmt.Errorf("kb import: nothing written:\n%w", err)
	}
	if !*force {
		for _, im := range ims {
			p := filepath.Join(*out, filepath.FromSlash(im.name))
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("kb import: %s exists; nothing written (use --force to overwrite)", p)
			}
		}
	}
	var articles, oos int
	if len(ims) >= progressEvery {
		fmt.Fprintf(e.stderr, "kb import: writing %d files to %s…\n", len(ims), *out)
	}
	for i, im := range ims {
		if i > 0 && i%progressEvery == 0 {
			fmt.Fprintf(e.stderr, "kb import: %d of %d written\n", i, len(ims))
		}
		p := filepath.Join(*out, filepath.FromSlash(im.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("kb import: %w", err)
		}
		if err := os.WriteFile(p, im.data, 0o644); err != nil {
			return fmt.Errorf("kb import: %w", err)
		}
		if im.entry.IsOutOfScope() {
			oos += len(im.entry.Questions)
		} else {
			articles++
		}
	}
	fmt.Fprintf(e.stdout, "%s: %s", *out, plural(articles, "article", "articles"))
	if oos > 0 {
		fmt.Fprintf(e.stdout, " and %s (%s)", plural(oos, "out-of-scope question", "out-of-scope questions"), faq.OutOfScope)
	}
	fmt.Fprintln(e.stdout, " written")
	return nil
}
