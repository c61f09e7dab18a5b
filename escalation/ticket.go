package escalation

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"ayuda/bots"
)

// ID is a ticket number. Numbers are assigned in order, without gaps among
// committed tickets.
type ID uint64

func (id ID) String() string { return strconv.FormatUint(uint64(id), 10) }

// ParseID reads a ticket number, with or without a leading "#" or "T-".
func ParseID(s string) (ID, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(s, "#"), "T-"), "t-")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("escalation: %q is not a ticket number", s)
	}
	return ID(n), nil
}

// Status is where a ticket is in its life.
type Status string

// Statuses, in the order of the service protocol.
const (
	New        Status = "new"         // waiting for an agent
	Assigned   Status = "assigned"    // an agent has it
	InProgress Status = "in_progress" // the agent is working on it
	Waiting    Status = "waiting"     // waiting on the customer
	Completed  Status = "completed"   // the agent thinks it is solved; the customer is asked
	Closed     Status = "closed"      // solved and accepted (or closed after a quiet period)
	Reopened   Status = "reopened"    // the customer said it is not solved
)

// Statuses lists every status.
var Statuses = []Status{New, Assigned, InProgress, Waiting, Completed, Closed, Reopened}

// Open reports whether the ticket still needs work: the customer's messages
// go to it and the bot stays quiet.
func (s Status) Open() bool { return s != Completed && s != Closed }

// transitions lists where each status may go.
var transitions = map[Status][]Status{
	New:        {Assigned, InProgress, Waiting, Completed},
	Assigned:   {InProgress, Waiting, Completed, New},
	InProgress: {Waiting, Completed, New},
	Waiting:    {InProgress, Completed},
	Completed:  {Closed, Reopened},
	Closed:     {Reopened},
	Reopened:   {Assigned, InProgress, Waiting, Completed},
}

// CanMove reports whether a ticket may go from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// ParseStatus reads a status name, accepting Spanish names and common forms.
func ParseStatus(s string) (Status, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.NewReplacer("-", "_", " ", "_").Replace(k)
	switch k {
	case "new", "nuevo", "abierto", "open":
		return New, nil
	case "assigned", "asignado":
		return Assigned, nil
	case "in_progress", "progress", "en_curso", "en_progreso", "working":
		return InProgress, nil
	case "waiting", "pending", "esperando", "en_espera", "waiting_on_customer":
		return Waiting, nil
	case "completed", "complete", "solved", "resolved", "resuelto", "completado":
		return Completed, nil
	case "closed", "cerrado":
		return Closed, nil
	case "reopened", "reabierto":
		return Reopened, nil
	}
	return "", fmt.Errorf("escalation: unknown status %q (one of new, assigned, in_progress, waiting, completed, closed, reopened)", s)
}

// Type is the kind of request.
type Type string

// Request types.
const (
	Consulta   Type = "consulta"   // a question
	Solicitud  Type = "solicitud"  // a service request
	Queja      Type = "queja"      // a complaint
	Reclamo    Type = "reclamo"    // a claim: something is owed
	Sugerencia Type = "sugerencia" // a suggestion
	Denuncia   Type = "denuncia"   // a report of wrongdoing: always a person
)

// Types lists every request type.
var Types = []Type{Consulta, Solicitud, Queja, Reclamo, Sugerencia, Denuncia}

// Sensitive reports whether a request of this type always goes to a person.
func (t Type) Sensitive() bool { return t == Queja || t == Reclamo || t == Denuncia }

// ParseType reads a request type, in Spanish or English.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "consulta", "question", "query":
		return Consulta, nil
	case "solicitud", "request", "service request":
		return Solicitud, nil
	case "queja", "complaint":
		return Queja, nil
	case "reclamo", "reclamación", "reclamacion", "claim":
		return Reclamo, nil
	case "sugerencia", "suggestion":
		return Sugerencia, nil
	case "denuncia", "report":
		return Denuncia, nil
	}
	return "", fmt.Errorf("escalation: unknown type %q", s)
}

// Priority is how soon a ticket must be handled.
type Priority string

// Priorities, lowest first.
const (
	Baja    Priority = "baja"
	Normal  Priority = "normal"
	Alta    Priority = "alta"
	Urgente Priority = "urgente"
)

// Priorities lists every priority, lowest first.
var Priorities = []Priority{Baja, Normal, Alta, Urgente}

// ParsePriority reads a priority, in Spanish or English.
func ParsePriority(s string) (Priority, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "baja", "low":
		return Baja, nil
	case "normal", "medium":
		return Normal, nil
	case "alta", "high":
		return Alta, nil
	case "urgente", "urgent":
		return Urgente, nil
	}
	return "", fmt.Errorf("escalation: unknown priority %q", s)
}

// Reason says why the bot handed the conversation to a person.
type Reason string

// Reasons for escalation.
const (
	ReasonRequested     Reason = "requested"      // the customer asked for a person
	ReasonLowConfidence Reason = "low_confidence" // no article fit well
	ReasonNegative      Reason = "negative"       // "did this solve it?" → no
	ReasonRepeatedMiss  Reason = "repeated_miss"  // two misses in a row
	ReasonSensitive     Reason = "sensitive"      // queja, reclamo, denuncia
	ReasonNewRequest    Reason = "new_request"    // the customer chose to open a request
	ReasonStaff         Reason = "staff"          // raised by staff (internal)
)

// Author of a transcript entry.
type Author string

// Authors.
const (
	AuthorCustomer Author = "customer"
	AuthorBot      Author = "bot"
	AuthorAgent    Author = "agent"
	AuthorSystem   Author = "system"
)

// Entry is one line of a ticket's transcript.
type Entry struct {
	Time        time.Time         `json:"time"`
	Author      Author            `json:"author"`
	Name        string            `json:"name,omitempty"`
	Text        string            `json:"text"`
	Attachments []bots.Attachment `json:"attachments,omitempty"`
	// Note marks an internal note: agents see it, the customer never does.
	Note bool `json:"note,omitempty"`
	// MessageID is the platform's id of an inbound message, to drop
	// re-deliveries.
	MessageID string `json:"message_id,omitempty"`
}

// Offer is an article the bot offered before escalating.
type Offer struct {
	Article    string  `json:"article"`
	Title      string  `json:"title"`
	Score      float64 `json:"score"`
	Confidence float64 `json:"confidence"`
	// Feedback is the customer's answer to "did this solve it?": "yes",
	// "no", or empty when they did not say.
	Feedback string `json:"feedback,omitempty"`
}

// Customer is who raised the ticket.
type Customer struct {
	Address bots.Address `json:"address"`
	Name    string       `json:"name,omitempty"`
	Lang    string       `json:"lang"`
}

// Event is one change in a ticket's life, for the audit trail.
type Event struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	What   string    `json:"what"`
	Detail string    `json:"detail,omitempty"`
	// Via is the channel the action came from ("api", "slack", "cli"),
	// from the context of the call that made it (WithVia).
	Via string `json:"via,omitempty"`
}

type viaKey struct{}

// WithVia returns ctx saying that what is done with it comes from channel
// via: the events it adds to tickets record it, so a ticket's events are an
// audit trail of who did what, when and from where.
func WithVia(ctx context.Context, via string) context.Context {
	return context.WithValue(ctx, viaKey{}, via)
}

// ViaOf returns the channel WithVia put in ctx, or "".
func ViaOf(ctx context.Context) string {
	v, _ := ctx.Value(viaKey{}).(string)
	return v
}

// Ticket is a request in the human queue, with everything an agent needs
// so the customer never explains the problem twice.
type Ticket struct {
	ID       ID       `json:"id"`
	Status   Status   `json:"status"`
	Type     Type     `json:"type"`
	Priority Priority `json:"priority"`
	Team     string   `json:"team,omitempty"`
	Assignee string   `json:"assignee,omitempty"`
	Customer Customer `json:"customer"`
	Channel  string   `json:"channel"`
	Summary  string   `json:"summary"`
	Reason   Reason   `json:"reason"`
	// Internal marks a request raised by staff.
	Internal   bool    `json:"internal,omitempty"`
	Transcript []Entry `json:"transcript"`
	Offered    []Offer `json:"offered,omitempty"`
	Earlier    []ID    `json:"earlier,omitempty"` // the customer's earlier tickets
	Events     []Event `json:"events,omitempty"`
	// Archived and ArchivedEvents are how many of the first entries and
	// events are kept apart from the ticket's record (archive.go): 0 on a
	// ticket from Get, which has them all.
	Archived       int `json:"archived,omitempty"`
	ArchivedEvents int `json:"archived_events,omitempty"`
	// apart is how many entries and events the store keeps apart for this
	// ticket, as read: a whole ticket from Get has them in line as well.
	apart [2]int

	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
	FirstResponseDue time.Time `json:"first_response_due"`
	ResolutionDue    time.Time `json:"resolution_due"`
	FirstResponse    time.Time `json:"first_response,omitzero"`
	// LastReply is when an agent last wrote to the customer: the
	// transcript's latest part may no longer hold that message.
	LastReply time.Time `json:"last_reply,omitzero"`
	Completed time.Time `json:"completed,omitzero"`
	Closed    time.Time `json:"closed,omitzero"`
	Reopens   int       `json:"reopens,omitempty"`
	// OpenedBy is the id of the inbound message that opened the ticket, so a
	// re-delivered message does not open a second one.
	OpenedBy string `json:"opened_by,omitempty"`

	// Tags are those of the articles the bot offered, for routing.
	Tags []string `json:"tags,omitempty"`
	// TypeReason and PriorityReason say why the ticket has its type and
	// priority: the signals in the conversation, or the agent who set them.
	TypeReason     string `json:"type_reason,omitempty"`
	PriorityReason string `json:"priority_reason,omitempty"`
	// Contacts are the e-mail addresses and phone numbers the customer gave,
	// normalised ("mail:ana@example.com", "tel:+34612345678"): the same
	// contact on another platform is the same customer.
	Contacts []string `json:"contacts,omitempty"`
	// WaitingSince is when the ticket started waiting on the customer; the
	// targets' clock is paused meanwhile. Paused is the open time spent
	// waiting so far, by which the resolution due time has been pushed.
	WaitingSince time.Time     `json:"waiting_since,omitzero"`
	Paused       time.Duration `json:"paused,omitempty"`
	// ClosedAs says how a closed ticket was closed.
	ClosedAs Closure `json:"closed_as,omitempty"`
	// Rating is the customer's satisfaction, once they gave it.
	Rating *Rating `json:"rating,omitempty"`
	// Alerts records what the watchdog did for this ticket, so a restart
	// never does it twice.
	Alerts Alerts `json:"alerts,omitzero"`
}

// Closure is how a ticket came to be closed.
type Closure string

// Closures.
const (
	ClosedConfirmed Closure = "confirmed" // the customer said it is solved
	ClosedAssumed   Closure = "assumed"   // no answer to "is it solved?" within the configured period
	ClosedByAgent   Closure = "agent"     // an agent closed it
)

// Rating is the customer's satisfaction with a closed ticket.
type Rating struct {
	Score   int       `json:"score"` // 1 to 5
	Comment string    `json:"comment,omitempty"`
	Time    time.Time `json:"time"`
}

// Alerts records the watchdog's actions on a ticket. Each warning and miss
// holds the due time it was about, so a due time that moves (the ticket
// waited on the customer, an agent changed the priority) is watched afresh.
type Alerts struct {
	FirstResponseWarned time.Time `json:"first_response_warned,omitzero"`
	FirstResponseMissed time.Time `json:"first_response_missed,omitzero"`
	ResolutionWarned    time.Time `json:"resolution_warned,omitzero"`
	ResolutionMissed    time.Time `json:"resolution_missed,omitzero"`
	// Expected is the new expectation told to the customer after a missed
	// target; the watchdog watches it as the target from then on.
	FirstResponseExpected time.Time `json:"first_response_expected,omitzero"`
	ResolutionExpected    time.Time `json:"resolution_expected,omitzero"`
	// Progress is when the last progress message was sent.
	Progress time.Time `json:"progress,omitzero"`
	// LowRating is when the team was told about a rating of 1 or 2.
	LowRating time.Time `json:"low_rating,omitzero"`
	// Recurring is when the ticket was part of a recurring-problem alert.
	Recurring time.Time `json:"recurring,omitzero"`
}

// Public returns the transcript without internal notes: what may be shown
// to the customer.
func (t *Ticket) Public() []Entry {
	out := make([]Entry, 0, len(t.Transcript))
	for _, e := range t.Transcript {
		if !e.Note {
			out = append(out, e)
		}
	}
	return out
}
