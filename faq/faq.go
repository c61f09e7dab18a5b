// Package faq is the knowledge base's content: the article format on disk
// (Markdown with YAML front matter, or plain YAML), loading and validation,
// and the built-in Spanish and English articles of a small online store.
package faq

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/adrg/frontmatter"
	"gopkg.in/yaml.v3"
)

// Audiences of an article.
const (
	Public   = "public"
	Internal = "internal"
)

// OutOfScope is the reserved id of an article that is never answered: its
// questions are things people ask that no article covers ("tell me a
// joke", questions about another company's products). They teach the
// search what to decline, and lower its confidence on questions like them.
// Such an article needs no title or body. The labelled questions of
// `ayuda eval` use the same word for a question that should be declined.
const OutOfScope = "no-answer"

// IsOutOfScope reports whether the entry holds out-of-scope examples.
func (e Entry) IsOutOfScope() bool { return e.ID == OutOfScope }

// Languages ayuda speaks.
var Languages = []string{"es", "en"}

// Entry is one article in one language. The same ID in two languages is one
// article translated.
type Entry struct {
	ID        string   `yaml:"id" json:"id"`
	Lang      string   `yaml:"lang" json:"lang"`
	Title     string   `yaml:"title" json:"title"`
	Questions []string `yaml:"questions" json:"questions,omitempty"`
	Tags      []string `yaml:"tags" json:"tags,omitempty"`
	Audience  string   `yaml:"audience" json:"audience"`
	Type      string   `yaml:"type" json:"type,omitempty"`
	Body      string   `yaml:"body" json:"body"`

	// Source is the file the entry came from, for error messages.
	Source string `yaml:"-" json:"source,omitempty"`
}

// Key identifies an entry among all languages: id and language.
func (e Entry) Key() string { return e.ID + "/" + e.Lang }

// IsInternal reports whether the entry is for staff only.
func (e Entry) IsInternal() bool { return e.Audience == Internal }

// Error is a problem with one article file. Line is 0 when the problem is
// about the file as a whole.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found while loading or validating, in file order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

//go:embed articles
var builtin embed.FS

// Builtin returns the built-in articles. They are valid by construction
// (a test checks it), so an error here is a build defect.
func Builtin() ([]Entry, error) {
	sub, err := fs.Sub(builtin, "articles")
	if err != nil {
		return nil, err
	}
	return Load(sub)
}

// BuiltinFile reads a file that ships beside the built-in articles, such
// as eval.jsonl, their labelled questions.
func BuiltinFile(name string) ([]byte, error) {
	data, err := fs.ReadFile(builtin, path.Join("articles", name))
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	return data, nil
}

// SynonymsFile, at the root of an articles folder, holds the author's own
// synonym groups (the format of knowledge.ParseSynonyms), not an article.
const SynonymsFile = "synonyms.yaml"

// IsArticle reports whether a file name looks like an article.
func IsArticle(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".md", ".markdown", ".yaml", ".yml":
		return true
	}
	return false
}

// Load reads every article below the root of fsys (recursively), in path
// order, and validates them. On any problem it returns the entries it could
// read and an Errors value naming each file and line.
func Load(fsys fs.FS) ([]Entry, error) {
	var entries []Entry
	var errs Errors
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !IsArticle(p) || strings.HasPrefix(d.Name(), ".") || p == SynonymsFile {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		e, perr := Parse(p, data)
		if perr != nil {
			var fe *Error
			if errors.As(perr, &fe) {
				errs = append(errs, fe)
				return nil
			}
			return perr
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	errs = append(errs, Validate(entries)...)
	if len(errs) > 0 {
		return entries, errs
	}
	return entries, nil
}

var yamlFormat = frontmatter.NewFormat("---", "---", yaml.Unmarshal)

// Parse reads one article. Markdown files carry YAML front matter and the
// body after it; YAML files carry the body in a "body" field. Problems are
// returned as *Error with the file and line.
func Parse(name string, data []byte) (Entry, error) {
	var node yaml.Node
	body := ""
	frontLine := 1 // line where the YAML starts in the file
	ext := strings.ToLower(path.Ext(name))
	if ext == ".md" || ext == ".markdown" {
		if !bytes.HasPrefix(bytes.TrimLeft(data, "\ufeff"), []byte("---")) {
			return Entry{}, &Error{File: name, Line: 1, Msg: "missing front matter: the file must start with a line of ---"}
		}
		rest, err := frontmatter.MustParse(bytes.NewReader(data), &node, yamlFormat)
		if err != nil {
			return Entry{}, yamlError(name, 1, err)
		}
		body = string(rest)
		frontLine = 2
	} else if err := yaml.Unmarshal(data, &node); err != nil {
		return Entry{}, yamlError(name, 0, err)
	}
	var e Entry
	if len(node.Content) == 0 {
		return Entry{}, &Error{File: name, Line: frontLine, Msg: "empty front matter"}
	}
	if err := node.Decode(&e); err != nil {
		return Entry{}, yamlError(name, frontLine-1, err)
	}
	if body != "" {
		e.Body = body
	}
	e.Body = strings.TrimSpace(e.Body)
	e.Source = name
	e.Lang = strings.ToLower(strings.TrimSpace(e.Lang))
	e.Audience = strings.ToLower(strings.TrimSpace(e.Audience))
	if e.Audience == "" {
		e.Audience = Public
	}
	e.Type = strings.ToLower(strings.TrimSpace(e.Type))
	if err := check(e, fieldLines(&node, frontLine-1)); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// fieldLines maps each top-level key of the YAML mapping to its file line.
func fieldLines(n *yaml.Node, offset int) map[string]int {
	lines := map[string]int{"": offset + 1}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return lines
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		lines[n.Content[i].Value] = n.Content[i].Line + offset
	}
	return lines
}

// Types a ticket can have; an article's optional type hint must be one.
var Types = []string{"consulta", "solicitud", "queja", "reclamo", "sugerencia", "denuncia"}

func check(e Entry, lines map[string]int) error {
	line := func(field string) int {
		if l, ok := lines[field]; ok {
			return l
		}
		return lines[""]
	}
	switch {
	case strings.TrimSpace(e.ID) == "":
		return &Error{File: e.Source, Line: line("id"), Msg: "missing id"}
	case strings.ContainsAny(e.ID, " \t/\\:"):
		return &Error{File: e.Source, Line: line("id"), Msg: fmt.Sprintf("id %q must not contain spaces, slashes or colons", e.ID)}
	case e.Lang != "es" && e.Lang != "en":
		return &Error{File: e.Source, Line: line("lang"), Msg: fmt.Sprintf("lang must be es or en, not %q", e.Lang)}
	case e.ID == OutOfScope && len(e.Questions) == 0:
		return &Error{File: e.Source, Line: line("questions"), Msg: fmt.Sprintf("the %s article needs questions: the out-of-scope examples", OutOfScope)}
	case e.ID == OutOfScope:
	case strings.TrimSpace(e.Title) == "":
		return &Error{File: e.Source, Line: line("title"), Msg: "missing title"}
	case e.Body == "":
		return &Error{File: e.Source, Line: line("body"), Msg: "empty answer: write the answer after the front matter"}
	case e.Audience != Public && e.Audience != Internal:
		return &Error{File: e.Source, Line: line("audience"), Msg: fmt.Sprintf("audience must be public or internal, not %q", e.Audience)}
	case e.Type != "" && !contains(Types, e.Type):
		return &Error{File: e.Source, Line: line("type"), Msg: fmt.Sprintf("type must be one of %s, not %q", strings.Join(Types, ", "), e.Type)}
	}
	for _, q := range e.Questions {
		if strings.TrimSpace(q) == "" {
			return &Error{File: e.Source, Line: line("questions"), Msg: "empty question"}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Validate checks a set of entries as a whole: the same id and language
// twice is an error.
func Validate(entries []Entry) Errors {
	var errs Errors
	seen := map[string]string{}
	for _, e := range entries {
		if prev, ok := seen[e.Key()]; ok {
			errs = append(errs, &Error{File: e.Source, Msg: fmt.Sprintf("duplicate id %q in %s: also in %s", e.ID, e.Lang, prev)})
			continue
		}
		seen[e.Key()] = e.Source
	}
	return errs
}

func yamlError(name string, offset int, err error) error {
	// yaml.v3 says "yaml: line N: msg"; shift N to the file's line.
	msg := err.Error()
	var n int
	var rest string
	if k, _ := fmt.Sscanf(msg, "yaml: line %d:", &n); k == 1 {
		if i := strings.Index(msg, ": "); i >= 0 {
			if j := strings.Index(msg[i+2:], ": "); j >= 0 {
				rest = msg[i+2+j+2:]
			}
		}
		return &Error{File: name, Line: n + offset, Msg: rest}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		if k, _ := fmt.Sscanf(te.Errors[0], "line %d:", &n); k == 1 {
			return &Error{File: name, Line: n + offset, Msg: strings.TrimSpace(te.Errors[0][strings.Index(te.Errors[0], ":")+1:])}
		}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// Langs returns the languages present in entries, sorted.
func Langs(entries []Entry) []string {
	set := map[string]bool{}
	for _, e := range entries {
		set[e.Lang] = true
	}
	var out []string
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}
