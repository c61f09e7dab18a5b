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
