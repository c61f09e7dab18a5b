package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"ayuda/escalation"
)

// Config is ayuda's configuration: an optional YAML file, overridden by
// environment variables and flags. Secrets come only from the environment.
type Config struct {
	Data     string `yaml:"data"`     // data directory
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

	// Telegram, Discord, Slack settings that are not secrets.
	Telegram struct {
		APIURL string `yaml:"api_url"`
	} `yaml:"telegram"`

	loc *time.Location
}

// defaultAgent acts on tickets when the configuration names no agents, so
// the terminal walk-through works on a fresh machine.
var defaultAgent = escalation.Agent{ID: "agente", Name: "Agente"}

// loadConfig reads the file at path (if path is empty, ayuda.yaml in the
// working directory when it exists) and applies the environment.
func loadConfig(path string, getenv func(string) string) (*Config, error) {
	c := &Config{Data: "data", Lang: "es", Timezone: "Europe/Madrid", HTTP: "127.0.0.1:8080"}
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
		if err := parseConfig(data, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if c.Articles != "" && !filepath.IsAbs(c.Articles) {
			c.Articles = filepath.Join(filepath.Dir(path), c.Articles)
		}
	}
	if v := getenv("AYUDA_DATA"); v != "" {
		c.Data = v
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
	return c, c.finish()
}

// parseConfig decodes YAML strictly: an unknown key is an error with its line.
func parseConfig(data []byte, c *Config) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (c *Config) finish() error {
	if c.Lang != "es" && c.Lang != "en" {
		return fmt.Errorf("config: lang must be es or en, not %q", c.Lang)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return fmt.Errorf("config: timezone: %w", err)
	}
	c.loc = loc
	if len(c.Agents) == 0 {
		c.Agents = []escalation.Agent{defaultAgent}
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
	return nil
}
