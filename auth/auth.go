// Package auth keeps the credentials of the people who use ayuda's HTTP
// API: each agent and each terminal customer has their own bearer token,
// issued and revoked with a command, shown once and stored only as its
// SHA-256 hash. The tokens are 32 random bytes, so a plain hash is enough
// (there is nothing to guess), and looking one up by its hash takes the
// same time whatever the token.
//
// The credentials live in one JSON file in the data directory, written
// atomically (a temporary file renamed over it) under a lock, and read
// again by a running server when it changes: a token issued or revoked on
// the command line works, or stops working, within a second, without a
// restart.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a credential lets its holder do.
type Role string

const (
	// Agent acts on tickets, as that agent and nobody else.
	Agent Role = "agent"
	// Customer chats and reads their own inbox, as that customer.
	Customer Role = "customer"
)

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case Agent, Customer:
		return Role(s), nil
	}
	return "", fmt.Errorf("unknown role %q (agent or customer)", s)
}

// Principal is who a token belongs to.
type Principal struct {
	Role Role   `json:"role"`
	Name string `json:"name"`
}

// Record is one credential as stored: never the token itself.
type Record struct {
	Role    Role      `json:"role"`
	Name    string    `json:"name"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// MaxName is the longest name a credential (and a terminal customer or an
// agent id) may have, in characters.
const MaxName = 64

// CheckName says what is wrong with a person's name as the API and the
// terminal tools take it: empty, too long, not UTF-8, or with control
// characters (a NUL or an escape sequence is never part of a name, and
// would reach indexes and terminals).
func CheckName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("the name is empty")
	case !utf8.ValidString(name):
		return errors.New("the name is not valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxName:
		return fmt.Errorf("the name is longer than %d characters", MaxName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("the name contains a control character (%U)", r)
		}
	}
	return nil
}

// key is how a name is compared: agents' ids are case-insensitive, as in
// the queue; customers' names are as written.
func key(role Role, name string) string {
	if role == Agent {
		return strings.ToLower(name)
	}
	return name
}

// Store is the credentials file of one data directory.
type Store struct {
	path string

	mu      sync.Mutex
	stamp   stamp     // of the file when it was last read
	checked time.Time // when the file was last looked at
	records []Record
	byHash  map[string]Principal
}

type stamp struct {
	mod  time.Time
	size int64
	ino  uint64 // each write renames a new file over the old one
}

// File is the credentials file's name in a data directory.
const File = "credentials.json"

// Open returns the credentials of the data directory dir. A missing file
// is no credentials yet; a damaged one is an error.
func Open(dir string) (*Store, error) {
	s := &Store{path: filepath.Join(dir, File)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(true); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the file again when it changed since it was read (or
// always, with force). Callers hold s.mu.
func (s *Store) reload(force bool) error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.records, s.byHash, s.stamp = nil, map[string]Principal{}, stamp{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	st := stamp{mod: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	if !force && st == s.stamp {
		return nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	var f struct {
		Credentials []Record `json:"credentials"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("credentials: %s is damaged (%v): restore it, or delete it and issue the tokens again", s.path, err)
	}
	s.records = f.Credentials
	s.byHash = make(map[string]Principal, len(f.Credentials))
	for _, r := range f.Credentials {
		s.byHash[r.SHA256] = Principal{Role: r.Role, Name: r.Name}
	}
	s.stamp = st
	return nil
}

// Check returns whose token this is. The file is looked at again at most
// once a second, so a revoked token stops working within a second.
func (s *Store) Check(token string) (Principal, bool) {
	if token == "" {
		return Principal{}, false
	}
	h := hash(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.checked) >= time.Second || now.Before(s.checked) {
		s.checked = now
		if err := s.reload(false); err != nil {
			// Keep what was read before: a file being replaced is
			// briefly absent on some systems, never half-written.
			return s.lookup(h)
		}
	}
	return s.lookup(h)
}

func (s *Store) lookup(h string) (Principal, bool) {
	p, ok := s.byHash[h]
	return p, ok
}

// Has reports whether role name has a credential.
func (s *Store) Has(role Role, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reload(false)
	return slices.ContainsFunc(s.records, func(r Record) bool { return r.Role == role && key(role, r.Name) == key(role, name) })
}

// List returns the credentials, without their hashes.
func (s *Store) List() ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(false); err != nil {
		return nil, err
	}
	out := make([]Record, len(s.records))
	for i, r := range s.records {
		r.SHA256 = ""
		out[i] = r
	}
	return out, nil
}

// Issue makes a new token for role name and returns it: the only time it
// is seen. An earlier token of the same person stops working.
func (s *Store) Issue(role Role, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	token := "ayuda_" + string(role[0]) + "_" + base64.RawURLEncoding.EncodeToString(buf)
	err := s.change(func(rs []Record) []Record {
		rs = slices.DeleteFunc(rs, func(r Record) bool { return r.Role == role && key(role, r.Name) == key(role, name) })
		return append(rs, Record{Role: role, Name: key(role, name), SHA256: hash(token), Created: time.Now().UTC().Truncate(time.Second)})
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Revoke removes role name's token, and reports whether there was one.
func (s *Store) Revoke(role Role, name string) (bool, error) {
	found := false
	err := s.change(func(rs []Record) []Record {
		n := len(rs)
		rs = slices.DeleteFunc(rs, func(r Record) bool { return r.Role == role && key(role, r.Name) == key(role, name) })
		found = len(rs) < n
		return rs
	})
	return found, err
}

// change rewrites the file with f applied to its records, under a lock
// that other processes (another command, the server) respect.
func (s *Store) change(f func([]Record) []Record) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	lock, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("credentials: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(true); err != nil {
		return err
	}
	rs := f(slices.Clone(s.records))
	data, err := json.MarshalIndent(struct {
		Credentials []Record `json:"credentials"`
	}{rs}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".credentials-*")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return s.reload(true)
}

func hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
