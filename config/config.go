// Package config is ayuda's configuration: an optional YAML file,
// overridden by environment variables and flags, checked strictly.
package config

import (
	"ayuda/bots"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"ayuda/bots/web"
	"ayuda/escalation"
)

// Config is ayuda's configuration: an optional YAML file, overridden by
// environment variables and flags. Secrets come only from the environment.
type Config struct {
	Data string `yaml:"data"` // data directory
	// Database is a PostgreSQL URL (or key=value string): tickets,
	// conversations and the outbox are kept there, shared by replicas,
	// instead of in the data directory's bbolt file.
	Database string `yaml:"database"`
	Articles string `yaml:"articles"` // articles folder; empty: the built-in articles
	Lang     string `yaml:"lang"`     // default language: es or en
	Timezone string `yaml:"timezone"` // for due times told to customers
	HTTP     string `yaml:"http"`     // API address

	Thresholds struct {
		Answer  float64 `yaml:"answer"`
		Clarify float64 `yaml:"clarify"`
		Margin  float64 `yaml:"margin"`
	} `yaml:"thresholds"`

	Agents []escalation.Agent `yaml:"agents"`

	// Targets per priority, and per type then priority.
	Targets map[escalation.Priority]escalation.Target                     `yaml:"targets"`
	Types   map[escalation.Type]map[escalation.Priority]escalation.Target `yaml:"types"`

	// Calendar is when targets run, in Timezone: hours per weekday
	// ("9:00-14:00, 15:00-19:00"; a day left out is closed) and holidays.
	Calendar struct {
		Hours    map[string]string `yaml:"hours"`
		Holidays []string          `yaml:"holidays"`
	} `yaml:"calendar"`
	// Protocol is what the watchdog does; periods are business time.
	Protocol struct {
		Warn           float64       `yaml:"warn"`            // share of a target's time: warn the agents
		Extension      float64       `yaml:"extension"`       // share of a missed target's time: the new expectation
		Progress       time.Duration `yaml:"progress"`        // without news, tell the customer how it goes
		AssumeResolved time.Duration `yaml:"assume_resolved"` // completed and unanswered: close as assumed resolved
		Every          time.Duration `yaml:"every"`           // how often the watchdog looks
		Recurring      struct {
			Window     time.Duration `yaml:"window"`
			Min        int           `yaml:"min"`
			Similarity float64       `yaml:"similarity"`
		} `yaml:"recurring"`
	} `yaml:"protocol"`
	// Teams and Routes send tickets to teams; a team assigns by claim or
	// by round robin under a maximum load.
	Teams  []escalation.Team  `yaml:"teams"`
	Routes []escalation.Route `yaml:"routes"`
	// PhonePrefix is the country calling code of phone numbers customers
	// write without one, to recognise them on other platforms.
	PhonePrefix string `yaml:"phone_prefix"`
	// MetricsWindow is the period /metrics reports on; zero means 7 Days.
	MetricsWindow time.Duration `yaml:"metrics_window"`
	// Retention is how long customers' messages are kept.
	Retention struct {
		ClosedTranscripts Days `yaml:"closed_transcripts"` // e.g. 365d; 0 keeps them
	} `yaml:"retention"`

	// Telegram, Discord, Slack settings that are not secrets.
	Telegram struct {
		APIURL string `yaml:"api_url"`
	} `yaml:"telegram"`

	// Web is the website chat (/chat.js). Origins are the sites whose
	// pages may show it ("https://shop.example"); ayuda's own pages
	// always may. AYUDA_WEB_ORIGINS (comma-separated) overrides them.
	Web struct {
		Origins []string `yaml:"origins"`
	} `yaml:"web"`

	loc *time.Location
	// secrets keeps the platforms' tokens (from the environment) out of
	// logs and of the store.
	secrets *bots.Redactor
	cal     *escalation.Calendar
}

// weekdayNames are the keys of calendar.hours, in English or Spanish.
var weekdayNames = map[string]time.Weekday{
	"monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday, "thursday": time.Thursday,
	"friday": time.Friday, "saturday": time.Saturday, "sunday": time.Sunday,
	"lunes": time.Monday, "martes": time.Tuesday, "miercoles": time.Wednesday, "miércoles": time.Wednesday,
	"jueves": time.Thursday, "viernes": time.Friday, "sabado": time.Saturday, "sábado": time.Saturday, "domingo": time.Sunday,
}

// DefaultData is the data directory when none is configured.
const DefaultData = "data"

// DefaultAgent acts on tickets when the configuration names no agents, so
// the terminal walk-through works on a fresh machine. It has no name:
// customers read "Una persona del equipo está atendiendo tu solicitud",
// not a made-up name.
var DefaultAgent = escalation.Agent{ID: "agente", Privacy: true}

// Load reads the file at path (if path is empty, ayuda.yaml in the
// working directory when it exists) and applies the environment.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := &Config{Data: DefaultData, Lang: "es", Timezone: "Europe/Madrid", HTTP: "127.0.0.1:8080"}
	var secrets []string
	for _, k := range secretEnv {
		secrets = append(secrets, getenv(k))
	}
	c.secrets = bots.NewRedactor(secrets...)
	explicit := path != ""
	if path == "" {
		path = getenv("AYUDA_CONFIG")
		explicit = path != ""
	}
	if path == "" {
		path = "ayuda.yaml"
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	case err != nil:
		return nil, fmt.Errorf("config: %w", err)
	default:
		if err := Parse(data, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if c.Articles != "" && !filepath.IsAbs(c.Articles) {
			c.Articles = filepath.Join(filepath.Dir(path), c.Articles)
		}
	}
	if v := getenv("AYUDA_DATA"); v != "" {
		c.Data = v
	}
	if v := getenv("AYUDA_DATABASE_URL"); v != "" {
		c.Database = v
	}
	if pw := dbPassword(c.Database); pw != "" {
		secrets = append(secrets, pw)
		c.secrets = bots.NewRedactor(secrets...)
	}
	if v := getenv("AYUDA_ARTICLES"); v != "" {
		c.Articles = v
	}
	if v := getenv("AYUDA_HTTP"); v != "" {
		c.HTTP = v
	}
	if v := getenv("TELEGRAM_API_URL"); v != "" {
		c.Telegram.APIURL = v
	}
	if v := getenv("AYUDA_WEB_ORIGINS"); v != "" {
		c.Web.Origins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.Web.Origins = append(c.Web.Origins, o)
			}
		}
	}
	return c, c.Finish()
}

// Parse decodes YAML strictly: an unknown key is an error with its line.
func Parse(data []byte, c *Config) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return configError(err)
	}
	return nil
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	wrongType    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// configError says what yaml.v3 found wrong in the user's terms: the
// line, the setting, and for an unknown one the known setting it is
// closest to. Anything else is yaml's own message.
func configError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var out []string
	for _, e := range te.Errors {
		switch m := unknownField.FindStringSubmatch(e); {
		case m != nil:
			msg := fmt.Sprintf("line %s: unknown setting %q", m[1], m[2])
			if near := closest(m[2], configKeys()); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			out = append(out, msg)
		default:
			if m := wrongType.FindStringSubmatch(e); m != nil {
				want := map[string]string{"int": "a whole number", "float64": "a number", "bool": "true or false", "string": "text"}[strings.TrimPrefix(m[4], "*")]
				if want == "" {
					want = "a " + m[4]
				}
				out = append(out, fmt.Sprintf("line %s: %q is not %s", m[1], m[3], want))
				continue
			}
			out = append(out, e)
		}
	}
	return errors.New(strings.Join(out, "; "))
}

// configKeys are every setting name the configuration file knows, at any
// depth (yaml tags of Config and what it holds).
func configKeys() []string {
	seen := map[reflect.Type]bool{}
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				keys = append(keys, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Config]())
	return keys
}

// closest is the key nearest to s, at most two edits away, or "".
func closest(s string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}

// Finish checks c and works out what follows from it (the time zone, the
// business calendar, the default agent).
func (c *Config) Finish() error {
	if c.Lang != "es" && c.Lang != "en" {
		return fmt.Errorf("config: lang must be es or en, not %q", c.Lang)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return fmt.Errorf("config: timezone: %w", err)
	}
	c.loc = loc
	if len(c.Agents) == 0 {
		c.Agents = []escalation.Agent{DefaultAgent}
	}
	for _, o := range c.Web.Origins {
		if err := web.CheckOrigin(o); err != nil {
			return fmt.Errorf("config: web.origins: %w", err)
		}
	}
	for i, a := range c.Agents {
		if strings.TrimSpace(a.ID) == "" {
			return fmt.Errorf("config: agent %d has no id", i+1)
		}
	}
	for p := range c.Targets {
		if _, err := escalation.ParsePriority(string(p)); err != nil {
			return fmt.Errorf("config: targets: %w", err)
		}
	}
	for t, m := range c.Types {
		if _, err := escalation.ParseType(string(t)); err != nil {
			return fmt.Errorf("config: types: %w", err)
		}
		for p := range m {
			if _, err := escalation.ParsePriority(string(p)); err != nil {
				return fmt.Errorf("config: types: %s: %w", t, err)
			}
		}
	}
	for _, th := range []float64{c.Thresholds.Answer, c.Thresholds.Clarify, c.Thresholds.Margin} {
		if th < 0 || th > 1 {
			return fmt.Errorf("config: thresholds must be between 0 and 1")
		}
	}
	hours := escalation.DefaultHours()
	if len(c.Calendar.Hours) > 0 {
		hours = map[time.Weekday][]escalation.Span{}
		for day, h := range c.Calendar.Hours {
			wd, ok := weekdayNames[strings.ToLower(day)]
			if !ok {
				return fmt.Errorf("config: calendar: %q is not a weekday (monday … sunday)", day)
			}
			spans, err := escalation.ParseHours(h)
			if err != nil {
				return fmt.Errorf("config: calendar: %s: %w", day, err)
			}
			hours[wd] = spans
		}
	}
	if c.cal, err = escalation.NewCalendar(c.loc, hours, c.Calendar.Holidays); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.MetricsWindow < 0 {
		return fmt.Errorf("config: metrics_window must not be negative")
	}
	return nil
}

// Queue is the escalation configuration for c; Notify and Logger
// are the caller's.
func (c *Config) Queue() escalation.Config {
	p := c.Protocol
	return escalation.Config{
		Agents:      c.Agents,
		Targets:     c.Targets,
		TypeTargets: c.Types,
		Calendar:    c.cal,
		Protocol: escalation.Protocol{
			Warn: p.Warn, Extension: p.Extension, Progress: p.Progress, AssumeResolved: p.AssumeResolved, Every: p.Every,
			RecurringWindow: p.Recurring.Window, RecurringMin: p.Recurring.Min, Similarity: p.Recurring.Similarity,
		},
		Teams:       c.Teams,
		Routes:      c.Routes,
		PhonePrefix: c.PhonePrefix,
		Redact:      c.secrets.Redact,
		Retention:   escalation.Retention{ClosedTranscripts: time.Duration(c.Retention.ClosedTranscripts)},
	}
}

// Days is a duration written as Go writes one (72h) or in Days (365d).
type Days time.Duration

func (p *Days) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		k, err := strconv.Atoi(d)
		if err != nil || k < 0 {
			return fmt.Errorf("line %d: %q is not a number of Days (365d)", n.Line, s)
		}
		*p = Days(time.Duration(k) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("line %d: %q is not a period (365d, or 72h)", n.Line, s)
	}
	*p = Days(d)
	return nil
}

// Location is the time zone due times are told in.
func (c *Config) Location() *time.Location { return c.loc }

// Secrets redacts the platforms' tokens from the environment.
func (c *Config) Secrets() *bots.Redactor { return c.secrets }

// BusinessCalendar is when targets run.
func (c *Config) BusinessCalendar() *escalation.Calendar { return c.cal }

// dbPassword is the password in a PostgreSQL URL or key=value string, to
// keep out of the logs.
func dbPassword(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		return pw
	}
	if m := kvPassword.FindStringSubmatch(s); m != nil {
		return strings.Trim(m[1], "'")
	}
	return ""
}

var kvPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('[^']*'|\S+)`)

// secretEnv are the environment variables that hold secrets.
var secretEnv = []string{"AYUDA_API_TOKEN", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "DISCORD_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "AYUDA_WEB_IDENTITY_SECRET"}
