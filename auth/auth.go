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

// Store is the credentials of one installation: a file in the data
// directory (Open), or a document shared by replicas (OpenBackend).
type Store struct {
	b Backend

	mu      sync.Mutex
	stamp   string    // of the document when it was last read
	checked time.Time // when the document was last looked at
	records []Record
	byHash  map[string]Principal
}

// Backend keeps the credentials document (JSON, with hashes only).
type Backend interface {
	// Read returns the document (nil if there is none yet) and a stamp
	// that changes whenever it does; when the stamp is still last it may
	// return no data and changed false.
	Read(last string) (data []byte, stamp string, changed bool, err error)
	// Update replaces the document with f(current), atomically against
	// every other process using it. f may run more than once.
	Update(f func(current []byte) ([]byte, error)) error
	// Where names the document in messages.
	Where() string
}

// File is the credentials file's name in a data directory.
const File = "credentials.json"

// Open returns the credentials of the data directory dir. A missing file
// is no credentials yet; a damaged one is an error.
func Open(dir string) (*Store, error) {
	return OpenBackend(&fileBackend{path: filepath.Join(dir, File)})
}

// OpenBackend returns the credentials kept by b.
func OpenBackend(b Backend) (*Store, error) {
	s := &Store{b: b}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(true); err != nil {
		return nil, err
	}
	return s, nil
}

type document struct {
	Credentials []Record `json:"credentials"`
}

// reload reads the document again when it changed since it was read (or
// always, with force). Callers hold s.mu.
func (s *Store) reload(force bool) error {
	last := s.stamp
	if force {
		last = "\x00" // no stamp is this
	}
	data, stamp, changed, err := s.b.Read(last)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if !changed {
		return nil
	}
	f, err := decode(data)
	if err != nil {
		return fmt.Errorf("credentials: %s is damaged (%v): restore it, or delete it and issue the tokens again", s.b.Where(), err)
	}
	s.records = f.Credentials
	s.byHash = make(map[string]Principal, len(f.Credentials))
	for _, r := range f.Credentials {
		s.byHash[r.SHA256] = Principal{Role: r.Role, Name: r.Name}
	}
	s.stamp = stamp
	return nil
}

func decode(data []byte) (document, error) {
	var f document
	if data == nil {
		return f, nil
	}
	err := json.Unmarshal(data, &f)
	return f, err
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

// change rewrites the document with f applied to its records.
func (s *Store) change(f func([]Record) []Record) error {
	err := s.b.Update(func(current []byte) ([]byte, error) {
		d, err := decode(current)
		if err != nil {
			return nil, fmt.Errorf("%s is damaged (%v): restore it, or delete it and issue the tokens again", s.b.Where(), err)
		}
		data, err := json.MarshalIndent(document{f(slices.Clone(d.Credentials))}, "", "  ")
		return append(data, '\n'), err
	})
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reload(true)
}

// fileBackend is the credentials file of a data directory: replaced
// whole (a new file renamed over it), under a lock other processes on
// the machine respect.
type fileBackend struct{ path string }

func (b *fileBackend) Where() string { return b.path }

func (b *fileBackend) Read(last string) ([]byte, string, bool, error) {
	fi, err := os.Stat(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", last != "", nil
	}
	if err != nil {
		return nil, "", false, err
	}
	var ino uint64 // each write renames a new file over the old one
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	stamp := fmt.Sprintf("%d/%d/%d", fi.ModTime().UnixNano(), fi.Size(), ino)
	if stamp == last {
		return nil, stamp, false, nil
	}
	data, err := os.ReadFile(b.path)
	if err != nil {
		return nil, "", false, err
	}
	return data, stamp, true, nil
}

func (b *fileBackend) Update(f func([]byte) ([]byte, error)) error {
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(b.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	current, err := os.ReadFile(b.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	data, err := f(current)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.path), ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), b.path)
}

func hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
