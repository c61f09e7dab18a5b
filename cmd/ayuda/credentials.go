package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"ayuda/auth"
	"ayuda/config"
)

// Credentials on this machine. The server keeps only hashes
// (auth.Store); the tokens the local tools use are files in the data
// directory's tokens folder, mode 0600: the default agent's and the
// terminal customer's are made on the first start, so `make run` and a
// second terminal work as they did with one shared token; any other is
// saved there only with --save.

// tokensDir is where the local tools find their tokens.
func tokensDir(data string) string { return filepath.Join(data, "tokens") }

func tokenFile(data string, role auth.Role, name string) string {
	if role == auth.Agent {
		name = strings.ToLower(name)
	}
	return filepath.Join(tokensDir(data), string(role)+"-"+url.PathEscape(name))
}

// localToken returns the token the local tools use for role name: the
// environment's (AYUDA_AGENT_TOKEN, AYUDA_CUSTOMER_TOKEN) or the saved one.
func localToken(cfg *config.Config, getenv func(string) string, role auth.Role, name string) (string, error) {
	env := map[auth.Role]string{auth.Agent: "AYUDA_AGENT_TOKEN", auth.Customer: "AYUDA_CUSTOMER_TOKEN"}[role]
	if t := strings.TrimSpace(getenv(env)); t != "" {
		return t, nil
	}
	data, err := os.ReadFile(tokenFile(cfg.Data, role, name))
	if err == nil && strings.TrimSpace(string(data)) != "" {
		return strings.TrimSpace(string(data)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return "", fmt.Errorf("no token for %s %s on this machine: issue one with `ayuda %ss token %s --save`, or set %s", role, name, role, name, env)
}

// saveToken writes a token for the local tools.
func saveToken(cfg *config.Config, role auth.Role, name, token string) error {
	if err := os.MkdirAll(tokensDir(cfg.Data), 0o700); err != nil {
		return err
	}
	return os.WriteFile(tokenFile(cfg.Data, role, name), []byte(token+"\n"), 0o600)
}

// ensureLocal makes sure role name has a credential whose token the local
// tools have, issuing one when the person has none. A credential issued
// without --save is left alone: rotating it would lock out whoever holds
// it (the tools on this machine then need it in the environment).
func ensureLocal(cfg *config.Config, creds *auth.Store, role auth.Role, name string) error {
	if data, err := os.ReadFile(tokenFile(cfg.Data, role, name)); err == nil {
		if p, ok := creds.Check(strings.TrimSpace(string(data))); ok && p.Role == role {
			return nil
		}
	}
	if creds.Has(role, name) {
		return nil
	}
	tok, err := creds.Issue(role, name)
	if err != nil {
		return err
	}
	return saveToken(cfg, role, name, tok)
}

// cmdCredentials is `ayuda agents token NAME` and `ayuda customers token
// NAME`: issue (or, with --revoke, revoke) a person's own token.
func cmdCredentials(ctx context.Context, e *env, role auth.Role, args []string) error {
	fs, c := newFlags(string(role)+"s", e)
	revoke := fs.Bool("revoke", false, "revoke the token instead: it stops working within a second")
	save := fs.Bool("save", false, "also save the token into the data directory, for the tools on this machine")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	creds, closeCreds, err := openCreds(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer closeCreds()
	if len(rest) == 0 || rest[0] != "token" {
		if len(rest) == 0 || rest[0] == "list" {
			return listCredentials(e, creds, role)
		}
		if role == auth.Customer {
			return fmt.Errorf("customers: unknown action %q (token NAME [--revoke] [--save], list, show KEY, export KEY, erase KEY --yes)", rest[0])
		}
		return fmt.Errorf("%ss: unknown action %q (token NAME [--revoke] [--save], list)", role, rest[0])
	}
	if len(rest) != 2 {
		return fmt.Errorf("%ss token: whose? (%ss token NAME)", role, role)
	}
	name := rest[1]
	if err := auth.CheckName(name); err != nil {
		return fmt.Errorf("%s %q: %w", role, name, err)
	}
	if role == auth.Agent {
		id, ok := configuredAgent(cfg, name)
		if !ok {
			return fmt.Errorf("agents token: %q is not a configured agent (agents: in the configuration)", name)
		}
		name = id
	}
	if *revoke {
		found, err := creds.Revoke(role, name)
		if err != nil {
			return err
		}
		os.Remove(tokenFile(cfg.Data, role, name))
		if !found {
			fmt.Fprintf(e.stdout, "%s %s had no token.\n", role, name)
			return nil
		}
		fmt.Fprintf(e.stdout, "Revoked %s %s's token: it stops working within a second.\n", role, name)
		return nil
	}
	tok, err := creds.Issue(role, name)
	if err != nil {
		return err
	}
	if *save {
		if err := saveToken(cfg, role, name, tok); err != nil {
			return err
		}
	} else {
		os.Remove(tokenFile(cfg.Data, role, name)) // the old one no longer works
	}
	fmt.Fprintf(e.stdout, "%s %s's token (shown once; ayuda keeps only its hash; any earlier one stops working):\n\n  %s\n\n", role, name, tok)
	if *save {
		fmt.Fprintf(e.stdout, "Saved for the tools on this machine in %s.\n", tokenFile(cfg.Data, role, name))
	}
	fmt.Fprintf(e.stdout, "Use it as Authorization: Bearer <token>, or in %s for the ayuda commands.\n", map[auth.Role]string{auth.Agent: "AYUDA_AGENT_TOKEN", auth.Customer: "AYUDA_CUSTOMER_TOKEN"}[role])
	return nil
}

func listCredentials(e *env, creds *auth.Store, role auth.Role) error {
	rs, err := creds.List()
	if err != nil {
		return err
	}
	n := 0
	for _, r := range rs {
		if r.Role == role {
			fmt.Fprintf(e.stdout, "%s\tissued %s\n", r.Name, r.Created.Format("2006-01-02 15:04 MST"))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(e.stdout, "No %s has a token yet: ayuda %ss token NAME.\n", role, role)
	}
	return nil
}

// configuredAgent returns the id of the configured agent called name
// (ids are case-insensitive).
func configuredAgent(cfg *config.Config, name string) (string, bool) {
	for _, a := range cfg.Agents {
		if strings.EqualFold(a.ID, strings.TrimSpace(name)) {
			return a.ID, true
		}
	}
	return "", false
}
