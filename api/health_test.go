package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ayuda/internal/desktest"
)

// /healthz says when the store cannot be written (a full disk, a
// read-only file) instead of "ok" while every write fails, and probes it
// at most once per period however often it is asked.
func TestHealthzReportsStorage(t *testing.T) {
	var probes atomic.Int32
	var fail atomic.Bool
	h := NewHealth(HealthConfig{ProbeEvery: time.Hour, Probe: func(ctx context.Context) error {
		probes.Add(1)
		if fail.Load() {
			return errors.New("write ayuda.db: no space left on device")
		}
		return nil
	}})
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 || !strings.Contains(body, "storage: up") {
		t.Errorf("healthy: %d %s", code, body)
	}
	get()
	if n := probes.Load(); n != 1 {
		t.Errorf("%d probes for two checks within the period, want 1", n)
	}
	fail.Store(true)
	h.storage.at = time.Time{} // the period is over
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "storage: down: write ayuda.db: no space left on device") {
		t.Errorf("full disk: %d %s", code, body)
	}

	// The real probe writes and syncs the store.
	if err := desktest.Queue(t).Probe(t.Context()); err != nil {
		t.Errorf("probe: %v", err)
	}
}
