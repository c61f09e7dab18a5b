package knowledge

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"ayuda/faq"
)

// evalDir is ../shared/eval beside the repository, where CI has it
// (README of that folder: CLINC150 and Banking77 in ayuda's shape).
var evalDir = filepath.Join("..", "..", "shared", "eval")

// readEval reads a JSON Lines file of the eval folder, skipping the test
// when the folder is absent.
func readEval[T any](tb testing.TB, name string) []T {
	tb.Helper()
	f, err := os.Open(filepath.Join(evalDir, name))
	if os.IsNotExist(err) {
		tb.Skipf("%s is absent (it is ../shared/eval beside the repository): skipping", filepath.Join(evalDir, name))
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// evalArticles reads a dataset's articles as public entries.
func evalArticles(tb testing.TB, dataset string) []faq.Entry {
	tb.Helper()
	entries := readEval[faq.Entry](tb, dataset+"/articles.jsonl")
	for i := range entries {
		entries[i].Audience = faq.Public
	}
	return entries
}

type evalQuestion struct {
	Q    string `json:"q"`
	Lang string `json:"lang"`
	Want string `json:"want"`
}

func BenchmarkBuildCLINC150(b *testing.B)  { benchBuild(b, "clinc150") }
func BenchmarkBuildCombined(b *testing.B)  { benchBuild(b, "combined") }
func BenchmarkSearchCLINC150(b *testing.B) { benchSearch(b, "clinc150") }

// BenchmarkSearchCombined is the size: CLINC150 and Banking77 as
// one knowledge base of 227 articles. Besides the mean it reports the
// median and the 99th percentile of one question (p50-ms, p99-ms).
func BenchmarkSearchCombined(b *testing.B) { benchSearch(b, "combined") }

// benchBuild also reports what the built index keeps in memory (live-MB:
// the heap in use after a collection, less what was in use before) and
// what the process took from the system while building (sys-MB: the
// training's peak, garbage included).
func benchBuild(b *testing.B, dataset string) {
	entries := evalArticles(b, dataset)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var x *Index
	for b.Loop() {
		if x != nil {
			x.Close()
		}
		var err error
		if x, err = New(entries); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric((float64(after.HeapInuse)-float64(before.HeapInuse))/(1<<20), "live-MB")
	b.ReportMetric((float64(after.Sys)-float64(before.Sys))/(1<<20), "sys-MB")
	runtime.KeepAlive(x)
	x.Close()
}

func benchSearch(b *testing.B, dataset string) {
	entries := evalArticles(b, dataset)
	qs := readEval[evalQuestion](b, dataset+"/val.jsonl")
	x, err := New(entries)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := x.Search(b.Context(), Query{Text: qs[i%len(qs)].Q, Lang: "en"}); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / 1e6 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// TestEvalSubset measures search on 20 CLINC150 intents and their
// validation questions, plus the out-of-scope ones: a fast check of the
// whole method on real data (make test runs the full sets through ayuda
// eval).
func TestEvalSubset(t *testing.T) {
	all := evalArticles(t, "clinc150")
	entries := all[:20]
	keep := map[string]bool{}
	for _, e := range entries {
		keep[e.ID] = true
	}
	oos := faq.Entry{ID: faq.OutOfScope, Lang: "en", Audience: faq.Public}
	for _, q := range readEval[evalQuestion](t, "clinc150/out-of-scope-examples.jsonl") {
		oos.Questions = append(oos.Questions, q.Q)
	}
	x, err := New(append(entries, oos))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	const threshold = 0.3 // dialog's default AnswerThreshold
	var in, right, out, declined int
	for _, q := range readEval[evalQuestion](t, "clinc150/val.jsonl") {
		if q.Want != faq.OutOfScope && !keep[q.Want] {
			continue
		}
		hits, err := x.Search(t.Context(), Query{Text: q.Q, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		answered := len(hits) > 0 && hits[0].Confidence >= threshold
		if q.Want == faq.OutOfScope {
			out++
			if !answered {
				declined++
			}
			continue
		}
		in++
		if answered && hits[0].ID == q.Want {
			right++
		}
	}
	acc, recall := float64(right)/float64(in), float64(declined)/float64(out)
	t.Logf("20 intents: %d in-scope questions, %.1f%% answered right; %d out of scope, %.0f%% declined", in, 100*acc, out, 100*recall)
	// Bars just under what was measured, so a regression fails.
	if acc < 0.95 || recall < 0.85 {
		t.Errorf("accuracy %.3f (want ≥ 0.95), out-of-scope recall %.2f (want ≥ 0.85)", acc, recall)
	}
}
