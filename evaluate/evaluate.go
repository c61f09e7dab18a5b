// Package evaluate measures the dialog engine's decisions on labelled
// questions: right answers, wrong answers, choices, declines and handoffs,
// the time per question, and how well the confidence is calibrated (a
// reliability table and the expected calibration error). `ayuda eval`
// prints it.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"ayuda/dialog"
	"ayuda/faq"
	"ayuda/kbimport"
)

// Result is what `ayuda eval --json` prints. Fractions are in [0,1].
type Result struct {
	Articles            int         `json:"articles"`
	OutOfScopeExamples  int         `json:"out_of_scope_examples"`
	BuildMS             float64     `json:"build_ms"`
	Questions           int         `json:"questions"`
	InScope             int         `json:"in_scope"`
	OutOfScope          int         `json:"out_of_scope"`
	InScopeAccuracy     float64     `json:"in_scope_accuracy"`
	OutOfScopeRecall    float64     `json:"out_of_scope_recall"`
	OutOfScopePrecision float64     `json:"out_of_scope_precision"`
	ClarifyRate         float64     `json:"clarify_rate"`
	AnsweredRight       int         `json:"answered_right"`
	AnsweredWrong       int         `json:"answered_wrong"`
	OutOfScopeAnswered  int         `json:"out_of_scope_answered"`
	Clarified           int         `json:"clarified"`
	P50MS               float64     `json:"p50_ms"`
	P99MS               float64     `json:"p99_ms"`
	Confusions          []Confusion `json:"confusions"`
	AnswerThreshold     float64     `json:"answer_threshold,omitempty"`
	ClarifyThreshold    float64     `json:"clarify_threshold,omitempty"`
	Margin              float64     `json:"margin,omitempty"`
	// AnsweredOrOffered is the share of in-scope questions answered with
	// their article or offered it among the choices.
	AnsweredOrOffered float64 `json:"answered_or_offered"`
	// WrongAnswerRate is the share of all questions answered wrongly: with
	// another article, or answered when no article does.
	WrongAnswerRate float64 `json:"wrong_answer_rate"`
	// Escalation: questions kbimport.Question "human" and how many were escalated.
	HumanQuestions int     `json:"human_questions"`
	Escalated      int     `json:"escalated"`
	EscalationRate float64 `json:"escalation_rate"`
	// InScopeEscalated counts in-scope questions handed to a person
	// instead of answered.
	InScopeEscalated int `json:"in_scope_escalated"`
	// OutOfScopeEscalated counts out-of-scope questions handed to a
	// person instead of declined: chatter that would fill the queue.
	OutOfScopeEscalated int `json:"out_of_scope_escalated"`
	// Reliability bins the best hit's confidence against how often that
	// hit is the wanted article (never, for out-of-scope questions); ECE
	// is the expected calibration error over those bins.
	Reliability []Bin   `json:"reliability"`
	ECE         float64 `json:"ece"`
	// Misses are the questions not answered with their article (or, for
	// out-of-scope and "human" ones, answered or not escalated), when
	// --show-misses asks for them.
	Misses               []Miss `json:"misses,omitempty"`
	ShowMisses           bool   `json:"-"` // fill Misses
	offered              int
	declinedInScope      int
	declinedOutOfScope   int
	sourceArticles       string
	sourceQuestions      string
	sourceOutOfScopeFrom string
}

// Bin is questions whose best hit's confidence is in [Low, High).
type Bin struct {
	Low        float64 `json:"low"`
	High       float64 `json:"high"`
	Questions  int     `json:"questions"`
	Confidence float64 `json:"mean_confidence"`
	Accuracy   float64 `json:"accuracy"`
}

// Miss is one question the engine got wrong or did not answer: what was
// wanted, what was decided, and the best hits with their confidence.
type Miss struct {
	Q        string       `json:"q"`
	Want     string       `json:"want"`
	Decision string       `json:"decision"`
	Article  string       `json:"article,omitempty"`
	Hits     []dialog.Hit `json:"hits"`
}

// Confusion is a pair of articles: questions for Want answered with Got.
type Confusion struct {
	Want  string `json:"want"`
	Got   string `json:"got"`
	Count int    `json:"count"`
}

// evalSources finds the articles and the kbimport.Question questions: src is a
// folder of articles, an articles file (.jsonl or .csv), or empty for the
// built-in articles; without a questions file, eval.jsonl in the folder.
func Load(src, oosFlag string, rest []string, res *Result) ([]faq.Entry, []byte, string, error) {
	var entries []faq.Entry
	var defaultQuestions func() ([]byte, string, error)
	info, statErr := os.Stat(src)
	switch {
	case src == "":
		var err error
		if entries, err = faq.Builtin(); err != nil {
			return nil, nil, "", err
		}
		res.sourceArticles = "built-in articles"
		defaultQuestions = func() ([]byte, string, error) {
			data, err := faq.BuiltinFile("eval.jsonl")
			return data, "built-in eval.jsonl", err
		}
	case statErr != nil:
		return nil, nil, "", statErr
	case info.IsDir():
		var err error
		if entries, err = faq.Load(os.DirFS(src)); err != nil {
			return nil, nil, "", fmt.Errorf("articles in %s:\n%w", src, err)
		}
		res.sourceArticles = src
		defaultQuestions = func() ([]byte, string, error) {
			p := filepath.Join(src, "eval.jsonl")
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, "", fmt.Errorf("no questions file given and none at %s: %w", p, err)
			}
			return data, p, nil
		}
	default:
		files := []string{src}
		oos := oosFlag
		if oos == "" {
			if p := filepath.Join(filepath.Dir(src), "out-of-scope-examples.jsonl"); fileExists(p) {
				oos = p
			}
		}
		if oos != "" && oos != "none" {
			files = append(files, oos)
			res.sourceOutOfScopeFrom = oos
		}
		ims, err := kbimport.Load(files...)
		if err != nil {
			return nil, nil, "", err
		}
		for _, im := range ims {
			entries = append(entries, im.Entry)
		}
		res.sourceArticles = src
		defaultQuestions = func() ([]byte, string, error) {
			return nil, "", errors.New("name the kbimport.Question questions file after the articles file")
		}
	}
	if len(entries) == 0 {
		return nil, nil, "", fmt.Errorf("no articles in %s", res.sourceArticles)
	}
	if len(rest) == 1 {
		data, err := os.ReadFile(rest[0])
		if err != nil {
			return nil, nil, "", err
		}
		res.sourceQuestions = rest[0]
		return entries, data, rest[0], nil
	}
	data, name, err := defaultQuestions()
	res.sourceQuestions = name
	return entries, data, name, err
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir()
}

// Run asks every question and counts the decisions. An in-scope
// question is right only when answered with its article; a question is
// declined when the decision is anything but an answer.
func Run(ctx context.Context, eng *dialog.Engine, qs []kbimport.Question, res *Result) error {
	times := make([]time.Duration, 0, len(qs))
	pairs := map[[2]string]int{}
	const bins = 10
	binN := make([]int, bins)
	binConf := make([]float64, bins)
	binRight := make([]int, bins)
	for _, l := range qs {
		start := time.Now()
		d, err := eng.Ask(ctx, l.Q, l.Lang, false)
		times = append(times, time.Since(start))
		if err != nil {
			return fmt.Errorf("%q: %w", l.Q, err)
		}
		res.Questions++
		res.noteMiss(l, d)
		if l.Want == kbimport.Human {
			res.HumanQuestions++
			if d.Decision == dialog.Escalate {
				res.Escalated++
			}
			continue
		}
		if len(d.Hits) > 0 {
			b := min(int(d.Hits[0].Confidence*bins), bins-1)
			binN[b]++
			binConf[b] += d.Hits[0].Confidence
			if d.Hits[0].ID == l.Want {
				binRight[b]++
			}
		}
		answered := d.Decision == dialog.Answer
		if d.Decision == dialog.Clarify {
			res.Clarified++
		}
		if l.Want == faq.OutOfScope {
			res.OutOfScope++
			if answered {
				res.OutOfScopeAnswered++
				pairs[[2]string{l.Want, d.Article}]++
			} else {
				res.declinedOutOfScope++
				if d.Decision == dialog.Escalate {
					res.OutOfScopeEscalated++
				}
			}
			continue
		}
		res.InScope++
		switch {
		case answered && d.Article == l.Want:
			res.AnsweredRight++
		case answered:
			res.AnsweredWrong++
			pairs[[2]string{l.Want, d.Article}]++
		default:
			res.declinedInScope++
			if d.Decision == dialog.Escalate {
				res.InScopeEscalated++
			}
			if d.Decision == dialog.Clarify {
				for _, h := range d.Hits[:min(3, len(d.Hits))] {
					if h.ID == l.Want && h.Confidence >= res.ClarifyThreshold {
						res.offered++
					}
				}
			}
		}
	}
	answeredLike := res.Questions - res.HumanQuestions
	res.AnsweredOrOffered = frac(res.AnsweredRight+res.offered, res.InScope)
	res.WrongAnswerRate = frac(res.AnsweredWrong+res.OutOfScopeAnswered, answeredLike)
	res.EscalationRate = frac(res.Escalated, res.HumanQuestions)
	res.Reliability = []Bin{}
	var total int
	for _, n := range binN {
		total += n
	}
	for b := range bins {
		if binN[b] == 0 {
			continue
		}
		bin := Bin{Low: float64(b) / bins, High: float64(b+1) / bins, Questions: binN[b], Confidence: binConf[b] / float64(binN[b]), Accuracy: frac(binRight[b], binN[b])}
		res.Reliability = append(res.Reliability, bin)
		res.ECE += float64(binN[b]) / float64(total) * math.Abs(bin.Confidence-bin.Accuracy)
	}
	res.InScopeAccuracy = frac(res.AnsweredRight, res.InScope)
	res.OutOfScopeRecall = frac(res.declinedOutOfScope, res.OutOfScope)
	res.OutOfScopePrecision = frac(res.declinedOutOfScope, res.declinedOutOfScope+res.declinedInScope)
	res.ClarifyRate = frac(res.Clarified, answeredLike)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	res.P50MS = ms(percentile(times, 0.50))
	res.P99MS = ms(percentile(times, 0.99))
	res.Confusions = []Confusion{}
	for p, n := range pairs {
		res.Confusions = append(res.Confusions, Confusion{Want: p[0], Got: p[1], Count: n})
	}
	sort.Slice(res.Confusions, func(i, j int) bool {
		a, b := res.Confusions[i], res.Confusions[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Want+"\x00"+a.Got < b.Want+"\x00"+b.Got
	})
	if len(res.Confusions) > 10 {
		res.Confusions = res.Confusions[:10]
	}
	return nil
}

// noteMiss keeps the question when --show-misses asked for misses and the
// decision is not the one wanted: an answer with the wanted article, a
// decline for an out-of-scope question, an escalation for a "human" one.
func (res *Result) noteMiss(l kbimport.Question, d dialog.Decision) {
	if !res.ShowMisses {
		return
	}
	var ok bool
	switch l.Want {
	case kbimport.Human:
		ok = d.Decision == dialog.Escalate
	case faq.OutOfScope:
		ok = d.Decision != dialog.Answer
	default:
		ok = d.Decision == dialog.Answer && d.Article == l.Want
	}
	if ok {
		return
	}
	hits := d.Hits[:min(3, len(d.Hits))]
	res.Misses = append(res.Misses, Miss{Q: l.Q, Want: l.Want, Decision: d.Decision, Article: d.Article, Hits: hits})
}

func frac(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// Print writes r for people.
func Print(w io.Writer, r *Result) {
	pct := func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }
	fmt.Fprintf(w, "articles:   %d from %s", r.Articles, r.sourceArticles)
	if r.OutOfScopeExamples > 0 {
		fmt.Fprintf(w, ", with %d out-of-scope examples", r.OutOfScopeExamples)
		if r.sourceOutOfScopeFrom != "" {
			fmt.Fprintf(w, " from %s", r.sourceOutOfScopeFrom)
		}
	}
	fmt.Fprintf(w, " (index built in %.0f ms)\n", r.BuildMS)
	fmt.Fprintf(w, "questions:  %d from %s: %d in scope, %d out of scope\n", r.Questions, r.sourceQuestions, r.InScope, r.OutOfScope)
	fmt.Fprintf(w, "thresholds: answer %.2f, clarify %.2f, margin %.2f\n\n", r.AnswerThreshold, r.ClarifyThreshold, r.Margin)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "in-scope accuracy\t%s\t%d of %d answered with the right article; %d wrong answers, %d not answered\n", pct(r.InScopeAccuracy), r.AnsweredRight, r.InScope, r.AnsweredWrong, r.declinedInScope)
	if r.OutOfScope > 0 {
		fmt.Fprintf(tw, "out-of-scope recall\t%s\t%d of %d out-of-scope questions not answered\n", pct(r.OutOfScopeRecall), r.declinedOutOfScope, r.OutOfScope)
	} else {
		fmt.Fprintf(tw, "out-of-scope recall\t-\tno out-of-scope questions\n")
	}
	fmt.Fprintf(tw, "out-of-scope precision\t%s\t%d of %d questions not answered were out of scope\n", pct(r.OutOfScopePrecision), r.declinedOutOfScope, r.declinedOutOfScope+r.declinedInScope)
	fmt.Fprintf(tw, "clarify rate\t%s\t%d of %d questions got a choice of articles\n", pct(r.ClarifyRate), r.Clarified, r.Questions)
	fmt.Fprintf(tw, "answered or offered\t%s\t%d of %d in-scope questions answered with their article or offered it among choices\n", pct(r.AnsweredOrOffered), r.AnsweredRight+r.offered, r.InScope)
	fmt.Fprintf(tw, "wrong answers\t%s\t%d of %d questions answered with the wrong article (%d) or answered when none applies (%d)\n", pct(r.WrongAnswerRate), r.AnsweredWrong+r.OutOfScopeAnswered, r.Questions-r.HumanQuestions, r.AnsweredWrong, r.OutOfScopeAnswered)
	if r.InScopeEscalated+r.OutOfScopeEscalated > 0 {
		fmt.Fprintf(tw, "handed to a person\t%d\tin-scope questions (%d) and out-of-scope ones (%d) escalated instead of answered or declined\n", r.InScopeEscalated+r.OutOfScopeEscalated, r.InScopeEscalated, r.OutOfScopeEscalated)
	}
	if r.HumanQuestions > 0 {
		fmt.Fprintf(tw, "escalated\t%s\t%d of %d questions labelled %q handed to a person\n", pct(r.EscalationRate), r.Escalated, r.HumanQuestions, kbimport.Human)
	}
	fmt.Fprintf(tw, "time per question\tp50 %.3f ms\tp99 %.3f ms\n", r.P50MS, r.P99MS)
	tw.Flush()
	if len(r.Reliability) > 0 {
		fmt.Fprintf(w, "\nreliability (best hit's confidence against how often it is the wanted article), ECE %.3f:\n", r.ECE)
		for _, b := range r.Reliability {
			fmt.Fprintf(w, "  %.1f–%.1f  %4d questions  mean confidence %.2f  right %5.1f%%\n", b.Low, b.High, b.Questions, b.Confidence, 100*b.Accuracy)
		}
	}
	if len(r.Misses) > 0 {
		fmt.Fprintf(w, "\nmisses (%d): want, decision, best hits\n", len(r.Misses))
		for _, m := range r.Misses {
			fmt.Fprintf(w, "  %q\n    want %s, %s", m.Q, m.Want, m.Decision)
			if m.Article != "" {
				fmt.Fprintf(w, " %s", m.Article)
			}
			for _, h := range m.Hits {
				fmt.Fprintf(w, "; %s %.2f", h.ID, h.Confidence)
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Confusions) > 0 {
		fmt.Fprintln(w, "\nworst confusions (questions for WANT answered with GOT):")
		for _, c := range r.Confusions {
			fmt.Fprintf(w, "  %4d  %s → %s\n", c.Count, c.Want, c.Got)
		}
	}
}
