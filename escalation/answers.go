package escalation

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"ayuda/escalation/store"
)

// Answer is a question the bot handled itself, for the reports: answered
// with an article (and what the customer said to "did this help?"), or not
// answered at all.
type Answer struct {
	Customer string    `json:"customer"` // bots.Address.Customer()
	Question string    `json:"question"`
	Article  string    `json:"article,omitempty"` // empty: the bot found no answer
	Lang     string    `json:"lang,omitempty"`
	At       time.Time `json:"at"`
	Feedback string    `json:"feedback,omitempty"` // "yes", "no", or empty when not said
}

func answerKey(a Answer) []byte {
	k := make([]byte, 8, 8+len(a.Customer))
	binary.BigEndian.PutUint64(k, uint64(a.At.UnixNano()))
	return append(k, a.Customer...)
}

// RecordAnswer stores a, durably. Recording again with the same Customer
// and At replaces it: that is how the customer's feedback is added later.
func (q *Queue) RecordAnswer(ctx context.Context, a Answer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.At.IsZero() {
		a.At = q.now()
	}
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := q.putOne(ctx, bAnswers, answerKey(a), data); err != nil {
		return fmt.Errorf("escalation: record answer: %w", err)
	}
	return nil
}

// Answers returns what the bot handled from since (inclusive) to until
// (exclusive), oldest first.
func (q *Queue) Answers(ctx context.Context, since, until time.Time) ([]Answer, error) {
	if epoch := time.Unix(0, 0); since.Before(epoch) {
		since = epoch
	}
	var out []Answer
	err := q.st.View(ctx, func(tx store.Tx) error {
		c := tx.Bucket(bAnswers).Cursor()
		from := make([]byte, 8)
		binary.BigEndian.PutUint64(from, uint64(since.UnixNano()))
		for k, v := c.Seek(from); k != nil; k, v = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) >= until.UnixNano() {
				break
			}
			var a Answer
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("answer %x: %w", k, err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}
