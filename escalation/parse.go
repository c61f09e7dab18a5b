package escalation

import (
	"errors"
	"strconv"
	"strings"
)

// ParseFilter reads a list's filter as the API and the CLI take it:
// statuses separated by commas ("open" or "abiertas": every open one), an
// assignee, a customer and a limit (empty: none).
func ParseFilter(status, assignee, customer, limit string) (Filter, error) {
	f := Filter{Assignee: assignee, Customer: customer}
	for _, s := range strings.Split(status, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if s == "open" || s == "abiertas" {
			for _, st := range Statuses {
				if st.Open() {
					f.Status = append(f.Status, st)
				}
			}
			continue
		}
		st, err := ParseStatus(s)
		if err != nil {
			return f, err
		}
		f.Status = append(f.Status, st)
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 0 {
			return f, errors.New("limit must be a whole number")
		}
		f.Limit = n
	}
	return f, nil
}

// ParseClass reads a type and a priority, either of which may be empty
// (kept as it is), but not both.
func ParseClass(typ, priority string) (Type, Priority, error) {
	if typ == "" && priority == "" {
		return "", "", errors.New(`give "type", "priority" or both`)
	}
	var t Type
	var p Priority
	var err error
	if typ != "" {
		if t, err = ParseType(typ); err != nil {
			return "", "", err
		}
	}
	if priority != "" {
		if p, err = ParsePriority(priority); err != nil {
			return "", "", err
		}
	}
	return t, p, nil
}
