package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"syscall"

	"ayuda/api/client"
	"ayuda/auth"
	"ayuda/config"
)

// findServer returns a client for the server that runs on cfg's data
// directory, or nil when none answers. A server is believed only when the
// process in server.json is alive and the server proves that it knows the
// operator's token (healthz's challenge): what answers on a port a crashed
// server left behind gets no token, no reply and no customer's message.
func findServer(ctx context.Context, cfg *config.Config, getenv func(string) string) *client.Client {
	data, err := os.ReadFile(serverFile(cfg.Data))
	if err != nil {
		return nil
	}
	var info serverInfo
	if json.Unmarshal(data, &info) != nil || info.Addr == "" || !alive(info.PID) {
		return nil
	}
	tok, err := apiToken(cfg, getenv, false)
	if err != nil {
		return nil
	}
	c := client.New(info.Addr, tok, func(role auth.Role, name string) (string, error) {
		if t, err := localToken(cfg, getenv, role, name); err == nil || role == auth.Agent {
			return t, err
		}
		// A terminal customer on this machine gets a token of their own
		// on first use, as the first start made one for $USER.
		creds, closeCreds, err := openCreds(ctx, cfg, nil)
		if err != nil {
			return "", err
		}
		defer closeCreds()
		if err := ensureLocal(cfg, creds, role, name); err != nil {
			return "", err
		}
		return localToken(cfg, getenv, role, name)
	})
	if !c.Proven(ctx) {
		return nil
	}
	return c
}

// alive reports whether process pid runs.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
