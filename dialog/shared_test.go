package dialog_test

import (
	"sync"
	"testing"

	"ayuda/faq"
	"ayuda/knowledge"
)

// builtinIndex is the built-in articles' index, built once for all the
// tests: it is read-only, and building it trains a classifier (seconds
// under the race detector).
var builtinIndex = sync.OnceValues(func() (*knowledge.Index, error) {
	entries, err := faq.Builtin()
	if err != nil {
		return nil, err
	}
	return knowledge.New(entries)
})

func sharedIndex(t testing.TB) *knowledge.Index {
	t.Helper()
	idx, err := builtinIndex()
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// fuzzIndex is a few of the built-in articles (both languages, one
// internal), built once: under the fuzzer's coverage instrumentation
// building the whole set and searching it take seconds, which would leave
// the fuzzer no time to run inputs. The engine's paths are the same.
var fuzzIndex = sync.OnceValues(func() (*knowledge.Index, error) {
	entries, err := faq.Builtin()
	if err != nil {
		return nil, err
	}
	var some []faq.Entry
	langs := map[string]int{}
	for _, e := range entries {
		if e.ID == "vpn-acceso" || (!e.IsOutOfScope() && langs[e.Lang] < 3) {
			some = append(some, e)
			langs[e.Lang]++
		}
	}
	return knowledge.New(some)
})
