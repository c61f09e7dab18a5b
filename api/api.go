// Package api is ayuda's HTTP API: the tickets and what agents do to them,
// the report and the metrics, people's data, and the terminal customers'
// chat and inbox, each route taken by the roles it names with their own
// bearer tokens. It also mounts the website chat and the agents' inbox
// that serve gives it. Package client calls it.
package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"ayuda/auth"
	"ayuda/dialog"
	"ayuda/escalation"
)

// Config is what the API serves.
type Config struct {
	Queue *escalation.Queue
	// Engine answers the terminal customers' messages (/api/chat).
	Engine *dialog.Engine
	// Token is the operator's: it reads tickets, reports and metrics, and
	// acts as nobody.
	Token string
	// Creds holds the agents' and terminal customers' own tokens; nil:
	// only the operator's token is accepted.
	Creds *auth.Store
	// Location is where the report's dates are midnight; nil: UTC.
	Location *time.Location
	Logger   *slog.Logger
	// Metrics serves /metrics (with a token); nil: not served.
	Metrics http.Handler
	// Health answers /healthz with the channels' state; nil: just "ok".
	Health *Health
	// Web serves the website chat (/chat.js, /chat/); nil: not served.
	Web http.Handler
	// Desk serves the agents' inbox (/inbox); nil: not served.
	Desk http.Handler
}

// server is the API of one Config.
type server struct {
	Config
}

// Handler returns the API's routes.
func Handler(c Config) http.Handler {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	return (&server{c}).handler()
}

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// Who may call a route: the operator's token, an agent's, a terminal
// customer's.
const (
	roleOperator = "operator"
	roleAgent    = string(auth.Agent)
	roleCustomer = string(auth.Customer)
)

// staff are the roles that read the queue.
var staff = []string{roleOperator, roleAgent}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /api/whoami", s.auth([]string{roleOperator, roleAgent, roleCustomer}, s.whoami))
	mux.Handle("GET /api/tickets", s.auth(staff, s.list))
	mux.Handle("GET /api/tickets/{id}", s.auth(staff, s.show))
	agent := []string{roleAgent}
	mux.Handle("POST /api/tickets/{id}/claim", s.auth(agent, s.claim))
	mux.Handle("POST /api/tickets/{id}/takeover", s.auth(agent, s.takeover))
	mux.Handle("POST /api/tickets/{id}/reply", s.auth(agent, s.reply))
	mux.Handle("POST /api/tickets/{id}/note", s.auth(agent, s.note))
	mux.Handle("POST /api/tickets/{id}/status", s.auth(agent, s.status))
	mux.Handle("POST /api/tickets/{id}/classify", s.auth(agent, s.classify))
	mux.Handle("GET /api/report", s.auth(staff, s.report))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.require(staff, s.Metrics))
	}
	mux.Handle("GET /api/agents", s.auth(staff, s.agents))
	mux.Handle("GET /api/customers/{key}", s.auth(agent, s.customerData))
	mux.Handle("POST /api/customers/{key}/erase", s.auth(agent, s.eraseCustomer))
	customer := []string{roleCustomer}
	mux.Handle("POST /api/chat", s.auth(customer, s.chat))
	mux.Handle("GET /api/chat/inbox", s.auth(customer, s.inbox))
	if s.Web != nil {
		mux.Handle("/chat.js", s.Web)
		mux.Handle("/chat/", s.Web)
	}
	if s.Desk != nil {
		mux.Handle("/inbox", s.Desk)
		mux.Handle("/inbox/", s.Desk)
	}
	return jsonErrors(mux)
}

// healthz answers whether ayuda serves, with each channel's state. With
// ?challenge=X it also proves that it is this data directory's server: the
// X-Ayuda-Proof header is the HMAC-SHA256 of X under the operator's token,
// which a process that merely took the port cannot compute, so the
// terminal tools send credentials only to the real server.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if c := r.URL.Query().Get("challenge"); c != "" && len(c) <= 128 {
		w.Header().Set(ProofHeader, Proof(s.Token, c))
	}
	if s.Health != nil {
		s.Health.ServeHTTP(w, r)
		return
	}
	w.Write([]byte("ok\n"))
}

// ProofHeader carries the server's proof that it knows the operator's
// token (see Proof).
const ProofHeader = "X-Ayuda-Proof"

// Proof is the answer to /healthz?challenge=challenge of a server whose
// operator's token is token.
func Proof(token, challenge string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("ayuda-server-proof:" + challenge))
	return hex.EncodeToString(m.Sum(nil))
}

// jsonErrors answers what mux has no route for in JSON, as every other
// answer of the API: 404 for an unknown path, 405 (with Allow) for a known
// path asked with another method. net/http's own answers are plain text.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := mux.Handler(probe); p != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, Error{fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))})
			return
		}
		writeJSON(w, http.StatusNotFound, Error{"no such route: " + r.URL.Path + " (the API is under /api/: see the README)"})
	})
}

// Error is every error the API answers with.
type Error struct {
	Error string `json:"error"`
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// caller is who made a request: a role and, for agents and customers, a
// name.
type caller struct {
	Role string `json:"role"`
	Name string `json:"name,omitempty"`
}

type callerKey struct{}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// identify returns whose bearer token a request carries. The scheme is
// case-insensitive (RFC 9110); the operator's token is compared in
// constant time, and the others are looked up by their hash.
func (s *server) identify(r *http.Request) (caller, bool) {
	f := strings.Fields(r.Header.Get("Authorization"))
	if len(f) != 2 || !strings.EqualFold(f[0], "bearer") {
		return caller{}, false
	}
	if s.Token != "" && subtle.ConstantTimeCompare([]byte(f[1]), []byte(s.Token)) == 1 {
		return caller{Role: roleOperator}, true
	}
	if s.Creds == nil {
		return caller{}, false
	}
	p, ok := s.Creds.Check(f[1])
	return caller{Role: string(p.Role), Name: p.Name}, ok
}

// allowed checks the request's token against the roles a route takes, and
// answers 401 (no or unknown token) or 403 (a token of another role). No
// body is read before this.
func (s *server) allowed(w http.ResponseWriter, r *http.Request, roles []string) (caller, bool) {
	c, ok := s.identify(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ayuda"`)
		writeJSON(w, http.StatusUnauthorized, Error{"missing or unknown token (Authorization: Bearer <token>): agents use their own (ayuda agents token NAME), terminal customers theirs (ayuda customers token NAME), monitoring the operator's (the data directory's api-token file or AYUDA_API_TOKEN)"})
		return c, false
	}
	if !slices.Contains(roles, c.Role) {
		writeJSON(w, http.StatusForbidden, Error{fmt.Sprintf("a token of %s cannot do this (it takes %s)", describe(c), strings.Join(roleNames(roles), " or "))})
		return c, false
	}
	return c, true
}

func describe(c caller) string {
	switch c.Role {
	case roleOperator:
		return "the operator"
	case roleAgent:
		return "agent " + c.Name
	}
	return "customer " + c.Name
}

func roleNames(roles []string) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = map[string]string{roleOperator: "the operator's token", roleAgent: "an agent's token", roleCustomer: "a customer's token"}[r]
	}
	return out
}

// require serves h only to the given roles.
func (s *server) require(roles []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.allowed(w, r, roles); ok {
			h.ServeHTTP(w, r)
		}
	})
}

// auth serves h to the given roles, with the caller in the request's
// context and the API as the channel of what it changes, and turns its
// result into JSON.
func (s *server) auth(roles []string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.allowed(w, r, roles)
		if !ok {
			return
		}
		ctx := context.WithValue(escalation.WithVia(r.Context(), "api"), callerKey{}, c)
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		v, err := h(w, r)
		if err != nil {
			code := statusFor(err)
			if code == http.StatusInternalServerError {
				s.Logger.ErrorContext(r.Context(), "api", "path", r.URL.Path, "err", err)
			}
			writeJSON(w, code, Error{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) (any, error) {
	return callerOf(r), nil
}

// forbidden is a caller acting as someone else.
type forbidden struct{ msg string }

func (e forbidden) Error() string { return e.msg }

// badRequest marks an error as the caller's.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func statusFor(err error) int {
	var br badRequest
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &br), errors.Is(err, escalation.ErrEmptyText):
		return http.StatusBadRequest
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, new(forbidden)):
		return http.StatusForbidden
	case errors.Is(err, escalation.ErrNotAgent):
		return http.StatusForbidden
	case errors.Is(err, escalation.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, escalation.ErrClaimed), errors.Is(err, escalation.ErrTransition):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest{bodyProblem(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest{"the body must be one JSON object, with nothing after it"}
	}
	return nil
}

// bodyProblem says what is wrong with a request body in the API's terms
// (the JSON field), not Go's (its struct types).
func bodyProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind()), te.Value)
	case errors.As(err, &te):
		return fmt.Sprintf("the body must be a JSON object, not %s", te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is not valid JSON (it ends too soon)"
	case errors.Is(err, io.EOF):
		return "the body is empty: send a JSON object"
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	return "invalid JSON body"
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	}
	return "an object"
}
