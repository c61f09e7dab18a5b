package escalation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"ayuda/escalation/store"
)

// Targets, as named in events, notices and reports.
const (
	TargetFirstResponse = "first_response"
	TargetResolution    = "resolution"
)

// What events the service protocol records; watchers (an agents' desk) get
// each as a Change.
const (
	EventWarning    = "target_warning"    // a target is about to be missed; Detail is the target
	EventMissed     = "target_missed"     // a target was missed and the customer told; Detail is the target
	EventProgress   = "progress_sent"     // the customer got a progress message
	EventAssumed    = "assumed_resolved"  // closed with no answer to "is it solved?"
	EventRated      = "rated"             // the customer rated the service; Detail is the score
	EventLowRating  = "low_rating"        // a rating of 1 or 2: the team should look
	EventRecurring  = "recurring_problem" // similar tickets keep arriving; Detail lists them
	EventLinked     = "linked_customer"   // the same customer on another platform; Detail lists the keys
	EventClassified = "classified"        // an agent changed the type or priority
	EventTakenOver  = "taken_over"        // an agent took a ticket another held; Detail names who and why
)

// setDue sets the due times of a ticket being opened, on the calendar.
func (q *Queue) setDue(t *Ticket) {
	target := q.Target(t.Type, t.Priority)
	t.FirstResponseDue = q.cfg.Calendar.Add(t.Created, target.FirstResponse)
	t.ResolutionDue = q.cfg.Calendar.Add(t.Created, target.Resolution)
}

// retarget moves the due times to the targets of t's type and priority,
// counted from when it was opened plus the time it waited on the customer
// (the first-response due time only while there is no first response).
func (q *Queue) retarget(t *Ticket) {
	target := q.Target(t.Type, t.Priority)
	if t.FirstResponse.IsZero() {
		t.FirstResponseDue = q.cfg.Calendar.Add(t.Created, target.FirstResponse+t.Paused)
		t.Alerts.FirstResponseExpected = time.Time{}
	}
	t.ResolutionDue = q.cfg.Calendar.Add(t.Created, target.Resolution+t.Paused)
	t.Alerts.ResolutionExpected = time.Time{}
}

// pause pushes the due times still running by d of open time.
func (q *Queue) pause(t *Ticket, d time.Duration) {
	if d <= 0 {
		return
	}
	cal := q.cfg.Calendar
	t.Paused += d
	if t.FirstResponse.IsZero() {
		t.FirstResponseDue = cal.Add(t.FirstResponseDue, d)
		if !t.Alerts.FirstResponseExpected.IsZero() {
			t.Alerts.FirstResponseExpected = cal.Add(t.Alerts.FirstResponseExpected, d)
		}
	}
	t.ResolutionDue = cal.Add(t.ResolutionDue, d)
	if !t.Alerts.ResolutionExpected.IsZero() {
		t.Alerts.ResolutionExpected = cal.Add(t.Alerts.ResolutionExpected, d)
	}
}

// resume ends a wait on the customer, if t is waiting: the targets' clock
// was paused, so the due times move by the open time spent waiting.
func (q *Queue) resume(t *Ticket, now time.Time) {
	if t.Status != Waiting || t.WaitingSince.IsZero() {
		return
	}
	q.pause(t, q.cfg.Calendar.Between(t.WaitingSince, now))
	t.WaitingSince = time.Time{}
}

// reopen puts a completed or closed ticket back to work. The resolution
// clock stopped when it was completed, so the due times move by the open
// time since then.
func (q *Queue) reopen(t *Ticket, now time.Time) {
	if !t.Completed.IsZero() {
		q.pause(t, q.cfg.Calendar.Between(t.Completed, now))
	}
	t.Status = Reopened
	t.Reopens++
	t.Completed, t.Closed, t.ClosedAs = time.Time{}, time.Time{}, ""
}

// repeatWindow is how recent an earlier ticket must be for a new one to be a
// repeated contact.
const repeatWindow = 7 * 24 * time.Hour

// repeatedContact raises the priority of a ticket from a customer who
// opened another in the last week (on any platform), one step up to alta,
// and says so in PriorityReason.
func (q *Queue) repeatedContact(tx store.Tx, t *Ticket) error {
	// Newest first (ids grow with time), stopping at the first one outside
	// the window: a customer's old tickets are not read at every new one.
	ids := slices.Clone(t.Earlier)
	slices.Sort(ids)
	n := 0
	for i := len(ids) - 1; i >= 0; i-- {
		prev, err := getTicket(tx, ids[i])
		if err != nil {
			return err
		}
		if t.Created.Sub(prev.Created) > repeatWindow {
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	up := map[Priority]Priority{Baja: Normal, Normal: Alta}
	why := fmt.Sprintf("repeated contact: %d earlier request(s) this week", n)
	if p, ok := up[t.Priority]; ok {
		t.Priority = p
		why += fmt.Sprintf(", raised to %s", p)
	}
	if t.PriorityReason == "" {
		t.PriorityReason = why
	} else {
		t.PriorityReason += "; " + why
	}
	return nil
}

// newContacts indexes contacts that appear in a new customer message and
// links the earlier tickets of the same person on other platforms.
func (q *Queue) newContacts(tx store.Tx, t *Ticket, e Entry) error {
	var fresh []string
	for _, c := range Contacts(e.Text, q.cfg.PhonePrefix) {
		if !slices.Contains(t.Contacts, c) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	t.Contacts = append(t.Contacts, fresh...)
	others, shared, err := linkContacts(tx, fresh, t.Customer.Address.Customer())
	if err != nil {
		return err
	}
	q.linkEarlier(tx, t, shared, others)
	return nil
}

// Classify sets the type and priority of a ticket, as agent, with the
// agent as the reason, routes it again and moves its due times to the new
// targets. An empty typ or p keeps the current one. The customer is not
// told. A completed or closed ticket is ErrTransition.
func (q *Queue) Classify(ctx context.Context, id ID, agent string, typ Type, p Priority) (*Ticket, error) {
	a, err := q.Agent(agent)
	if err != nil {
		return nil, err
	}
	if typ != "" {
		if typ, err = ParseType(string(typ)); err != nil {
			return nil, err
		}
	}
	if p != "" {
		if p, err = ParsePriority(string(p)); err != nil {
			return nil, err
		}
	}
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		var changes []string
		if typ != "" && typ != t.Type {
			changes = append(changes, fmt.Sprintf("type %s → %s", t.Type, typ))
			t.Type, t.TypeReason = typ, "set by "+a.ID
		}
		if p != "" && p != t.Priority {
			changes = append(changes, fmt.Sprintf("priority %s → %s", t.Priority, p))
			t.Priority, t.PriorityReason = p, "set by "+a.ID
		}
		if len(changes) == 0 {
			return errNoChange
		}
		if !t.Status.Open() {
			return fmt.Errorf("%w: #%d is %s", ErrTransition, t.ID, t.Status)
		}
		if err := held(t, a); err != nil {
			return err
		}
		q.retarget(t)
		if team := q.route(t); team != "" {
			t.Team = team
		}
		q.event(t, a.ID, EventClassified, strings.Join(changes, ", "))
		return nil
	})
}
