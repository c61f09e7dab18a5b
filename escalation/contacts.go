package escalation

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"ayuda/escalation/store"
)

var (
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	phoneRe = regexp.MustCompile(`(?:\+|\b00)?\d[\d ().-]{6,18}\d`)
)

// Contacts finds the e-mail addresses and phone numbers in text and returns
// them normalised, so the same person writing them differently on two
// platforms gives the same contact: "mail:" and the lowercased address;
// "tel:+" and the digits with the country code. A number written without
// a country code counts as one of prefix's (a country calling code such as
// "34") when it has nine digits and starts like a phone number (6, 7, 8 or
// 9); other bare digit runs (order numbers) are not phones.
func Contacts(text, prefix string) []string {
	var out []string
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, m := range emailRe.FindAllString(text, -1) {
		add("mail:" + strings.ToLower(strings.Trim(m, ".")))
	}
	rest := emailRe.ReplaceAllString(text, " ")
	for _, loc := range phoneRe.FindAllStringIndex(rest, -1) {
		// Part of a word or a code ("AUR-612345678", "ref612345678") is no phone.
		if loc[0] > 0 {
			r := rune(rest[loc[0]-1])
			if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '/' || r == '#' {
				continue
			}
		}
		if loc[1] < len(rest) {
			if r := rune(rest[loc[1]]); unicode.IsLetter(r) || unicode.IsDigit(r) {
				continue
			}
		}
		if c := normalPhone(rest[loc[0]:loc[1]], prefix); c != "" {
			add(c)
		}
	}
	return out
}

func normalPhone(s, prefix string) string {
	var digits strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	d := digits.String()
	switch {
	case strings.HasPrefix(s, "+"):
	case strings.HasPrefix(s, "00"):
		d = d[2:]
	case len(d) == 9 && strings.ContainsRune("6789", rune(d[0])):
		d = prefix + d
	case prefix != "" && len(d) == len(prefix)+9 && strings.HasPrefix(d, prefix):
	default:
		return ""
	}
	if len(d) < 8 || len(d) > 15 {
		return ""
	}
	return "tel:+" + d
}

// customerContacts returns the contacts in the customer's entries.
func customerContacts(entries []Entry, prefix string) []string {
	var out []string
	for _, e := range entries {
		if e.Author != AuthorCustomer || e.Note {
			continue
		}
		for _, c := range Contacts(e.Text, prefix) {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// linkContacts records that customer uses contacts and returns the other
// customers (bots.Address.Customer keys, other platforms or accounts) known
// by any of them, sorted, and the contacts they share.
func linkContacts(tx store.Tx, contacts []string, customer string) (others, shared []string, err error) {
	b := tx.Bucket(bContacts)
	for _, c := range contacts {
		prefix := append([]byte(c), 0)
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			o := string(k[len(prefix):])
			if o == customer {
				continue
			}
			if !slices.Contains(others, o) {
				others = append(others, o)
			}
			if !slices.Contains(shared, c) {
				shared = append(shared, c)
			}
		}
		if err := b.Put(append(prefix, customer...), nil); err != nil {
			return nil, nil, err
		}
	}
	slices.Sort(others)
	return others, shared, nil
}

// linkEarlier adds the tickets of others (customers sharing contacts with
// t's customer) to t.Earlier and leaves a note for the agents. It reports
// whether anything was added.
func (q *Queue) linkEarlier(tx store.Tx, t *Ticket, contacts, others []string) bool {
	var added []ID
	for _, o := range others {
		for _, id := range scanIndex(tx, bCustomer, o) {
			if id != t.ID && !slices.Contains(t.Earlier, id) {
				t.Earlier = append(t.Earlier, id)
				added = append(added, id)
			}
		}
	}
	if len(added) == 0 {
		return false
	}
	slices.Sort(t.Earlier)
	var ids []string
	for _, id := range added {
		ids = append(ids, "#"+id.String())
	}
	text := fmt.Sprintf("Same customer as %s (same %s): earlier tickets %s.", strings.Join(others, ", "), strings.Join(contacts, ", "), strings.Join(ids, " "))
	t.Transcript = append(t.Transcript, Entry{Time: q.now(), Author: AuthorSystem, Text: text, Note: true})
	q.event(t, "system", EventLinked, strings.Join(others, " "))
	return true
}
