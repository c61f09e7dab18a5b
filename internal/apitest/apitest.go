// Package apitest calls an HTTP API in tests as a client with a bearer
// token does.
package apitest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Caller returns a function that makes one call to the server at base
// with a bearer token (none if empty) and returns the status code and the
// body.
func Caller(t testing.TB, base string) func(method, path, token, body string) (int, string) {
	return func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}
