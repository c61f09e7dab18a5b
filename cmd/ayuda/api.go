package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"ayuda/bots"
	"ayuda/bots/console"
	"ayuda/escalation"
)

// api is the HTTP API for agents' tools and terminal clients.
type api struct {
	app   *app
	token string
	log   *slog.Logger
	// metrics serves /metrics (with the token); nil: not served.
	metrics http.Handler
	// health answers /healthz with the channels' state; nil: just "ok".
	health *channelHealth
}

// maxBody is the largest request body accepted.
const maxBody = 1 << 20

func (s *api) handler() http.Handler {
	mux := http.NewServeMux()
	if s.health != nil {
		mux.HandleFunc("GET /healthz", s.health.serveHTTP)
	} else {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	}
	mux.Handle("GET /api/tickets", s.auth(s.list))
	mux.Handle("GET /api/tickets/{id}", s.auth(s.show))
	mux.Handle("POST /api/tickets/{id}/claim", s.auth(s.claim))
	mux.Handle("POST /api/tickets/{id}/reply", s.auth(s.reply))
	mux.Handle("POST /api/tickets/{id}/note", s.auth(s.note))
	mux.Handle("POST /api/tickets/{id}/status", s.auth(s.status))
	mux.Handle("POST /api/tickets/{id}/classify", s.auth(s.classify))
	mux.Handle("GET /api/report", s.auth(s.report))
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.requireToken(s.metrics))
	}
	mux.Handle("GET /api/agents", s.auth(s.agents))
	mux.Handle("POST /api/chat", s.auth(s.chat))
	mux.Handle("GET /api/chat/inbox", s.auth(s.inbox))
	return jsonErrors(mux)
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
			writeJSON(w, http.StatusMethodNotAllowed, apiError{fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))})
			return
		}
		writeJSON(w, http.StatusNotFound, apiError{"no such route: " + r.URL.Path + " (the API is under /api/: see the README)"})
	})
}

type apiError struct {
	Error string `json:"error"`
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// tokenOK checks the bearer token, and answers 401 when it is wrong.
func (s *api) tokenOK(w http.ResponseWriter, r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ayuda"`)
		writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong API token (Authorization: Bearer <token>; the token is in the data directory's api-token file or AYUDA_API_TOKEN)"})
		return false
	}
	return true
}

// requireToken serves h only with the bearer token.
func (s *api) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.tokenOK(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// auth checks the bearer token and turns a handler's result into JSON.
func (s *api) auth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(w, r) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		v, err := h(w, r)
		if err != nil {
			code := statusFor(err)
			if code == http.StatusInternalServerError {
				s.log.ErrorContext(r.Context(), "api", "path", r.URL.Path, "err", err)
			}
			writeJSON(w, code, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

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

func ticketID(r *http.Request) (escalation.ID, error) {
	id, err := escalation.ParseID(r.PathValue("id"))
	if err != nil {
		return 0, badRequest{err.Error()}
	}
	return id, nil
}

type ticketList struct {
	Tickets []escalation.Ticket `json:"tickets"`
}

func (s *api) list(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilter(r.URL.Query().Get("status"), r.URL.Query().Get("assignee"), r.URL.Query().Get("customer"), r.URL.Query().Get("limit"))
	if err != nil {
		return nil, err
	}
	ts, err := s.app.queue.List(r.Context(), f)
	if ts == nil {
		ts = []escalation.Ticket{}
	}
	return ticketList{ts}, err
}

func parseFilter(status, assignee, customer, limit string) (escalation.Filter, error) {
	f := escalation.Filter{Assignee: assignee, Customer: customer}
	for _, s := range strings.Split(status, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if s == "open" || s == "abiertas" {
			for _, st := range escalation.Statuses {
				if st.Open() {
					f.Status = append(f.Status, st)
				}
			}
			continue
		}
		st, err := escalation.ParseStatus(s)
		if err != nil {
			return f, badRequest{err.Error()}
		}
		f.Status = append(f.Status, st)
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 0 {
			return f, badRequest{"limit must be a whole number"}
		}
		f.Limit = n
	}
	return f, nil
}

func (s *api) show(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	return s.app.queue.Get(r.Context(), id)
}

type agentText struct {
	Agent    string `json:"agent"`
	Text     string `json:"text,omitempty"`
	Status   string `json:"status,omitempty"`
	Type     string `json:"type,omitempty"`
	Priority string `json:"priority,omitempty"`
}

func (s *api) act(r *http.Request, do func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error)) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var b agentText
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	if b.Agent == "" {
		return nil, badRequest{`"agent" is required: the id of a configured agent`}
	}
	return do(r.Context(), id, b)
}

func (s *api) claim(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Claim(ctx, id, b.Agent)
	})
}

func (s *api) reply(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Reply(ctx, id, b.Agent, b.Text)
	})
}

func (s *api) note(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Note(ctx, id, b.Agent, b.Text)
	})
}

func (s *api) status(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		st, err := escalation.ParseStatus(b.Status)
		if err != nil {
			return nil, badRequest{err.Error()}
		}
		return s.app.queue.SetStatus(ctx, id, b.Agent, st)
	})
}

func (s *api) classify(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		typ, p, err := parseClass(b.Type, b.Priority)
		if err != nil {
			return nil, err
		}
		return s.app.queue.Classify(ctx, id, b.Agent, typ, p)
	})
}

// parseClass reads a type and a priority, either of which may be empty
// (kept as it is), but not both.
func parseClass(typ, priority string) (escalation.Type, escalation.Priority, error) {
	if typ == "" && priority == "" {
		return "", "", badRequest{`give "type", "priority" or both`}
	}
	var t escalation.Type
	var p escalation.Priority
	var err error
	if typ != "" {
		if t, err = escalation.ParseType(typ); err != nil {
			return "", "", badRequest{err.Error()}
		}
	}
	if priority != "" {
		if p, err = escalation.ParsePriority(priority); err != nil {
			return "", "", badRequest{err.Error()}
		}
	}
	return t, p, nil
}

// report returns the service figures for ?since= (7d, 24h, or a date;
// default 7d) to ?until= (a date or time; default now).
func (s *api) report(w http.ResponseWriter, r *http.Request) (any, error) {
	since, until, err := reportPeriod(r.URL.Query().Get("since"), r.URL.Query().Get("until"), time.Now(), s.app.cfg.loc)
	if err != nil {
		return nil, badRequest{err.Error()}
	}
	return s.app.queue.Report(r.Context(), since, until)
}

func (s *api) agents(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.app.queue.Agents(), nil
}

// chatRequest is a terminal customer's message, sent by `ayuda chat`.
type chatRequest struct {
	As   string `json:"as"`
	Text string `json:"text"`
}

type chatReply struct {
	Reply bots.Reply `json:"reply"`
}

func (s *api) chat(w http.ResponseWriter, r *http.Request) (any, error) {
	var b chatRequest
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	if strings.TrimSpace(b.As) == "" {
		return nil, badRequest{`"as" is required: who the customer is`}
	}
	m := bots.Message{From: console.Address(b.As), Name: b.As, Text: b.Text, Time: time.Now()}
	return chatReply{s.app.engine.Handle(r.Context(), m)}, nil
}

type inboxReply struct {
	Messages []bots.Reply `json:"messages"`
	// Last is the sequence number to acknowledge (?ack=) once shown.
	Last uint64 `json:"last,omitempty"`
}

// inbox returns what waits for a terminal customer, waiting up to ?wait=
// (at most 30 s) for something to arrive. Messages stay until the client
// acknowledges them with ?ack=<last> on its next call, so neither a crash
// of the server nor of the client loses one.
func (s *api) inbox(w http.ResponseWriter, r *http.Request) (any, error) {
	as := r.URL.Query().Get("as")
	if strings.TrimSpace(as) == "" {
		return nil, badRequest{`"as" is required`}
	}
	wait := time.Duration(0)
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, badRequest{"wait: " + err.Error()}
		}
		wait = min(d, 30*time.Second)
	}
	to := console.Address(as)
	if v := r.URL.Query().Get("ack"); v != "" {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest{"ack: not a sequence number"}
		}
		if err := s.app.queue.Ack(r.Context(), to, seq); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	out := inboxReply{Messages: []bots.Reply{}}
	for {
		msgs, err := s.app.queue.Peek(r.Context(), to)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			out.Messages = append(out.Messages, m.Reply)
			out.Last = m.Seq
		}
		if len(out.Messages) > 0 || time.Now().After(deadline) {
			return out, nil
		}
		select {
		case <-r.Context().Done():
			return out, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
