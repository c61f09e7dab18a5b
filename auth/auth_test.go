package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A token works for its holder only; issuing again or revoking it from
// another process (here another Store on the same directory, as the
// command line beside a running server) stops it; the file keeps hashes,
// never tokens, and only its owner can read it.
func TestIssueCheckRevoke(t *testing.T) {
	dir := t.TempDir()
	server, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ana, err := cli.Issue(Agent, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	lola, err := cli.Issue(Customer, "lola")
	if err != nil {
		t.Fatal(err)
	}
	wait := func() { time.Sleep(1100 * time.Millisecond) } // the server looks at the file once a second
	wait()
	if p, ok := server.Check(ana); !ok || p != (Principal{Agent, "ana"}) {
		t.Errorf("ana's token: %+v %v", p, ok)
	}
	if p, ok := server.Check(lola); !ok || p != (Principal{Customer, "lola"}) {
		t.Errorf("lola's token: %+v %v", p, ok)
	}
	for _, bad := range []string{"", ana[:len(ana)-1], ana + "x", strings.ToUpper(ana)} {
		if p, ok := server.Check(bad); ok {
			t.Errorf("token %q is %+v", bad, p)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), ana) || strings.Contains(string(data), lola) || strings.Contains(string(data), ana[8:]) {
		t.Errorf("the credentials file holds a token:\n%s", data)
	}
	if fi, _ := os.Stat(filepath.Join(dir, File)); fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}

	again, err := cli.Issue(Agent, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if found, err := cli.Revoke(Customer, "lola"); err != nil || !found {
		t.Fatalf("revoke lola: %v %v", found, err)
	}
	if found, _ := cli.Revoke(Customer, "nobody"); found {
		t.Error("revoking a credential that does not exist found one")
	}
	wait()
	if _, ok := server.Check(ana); ok {
		t.Error("ana's first token still works after a new one was issued")
	}
	if _, ok := server.Check(again); !ok {
		t.Error("ana's new token does not work")
	}
	if _, ok := server.Check(lola); ok {
		t.Error("lola's revoked token still works")
	}
	rs, err := server.List()
	if err != nil || len(rs) != 1 || rs[0].Name != "ana" || rs[0].SHA256 != "" {
		t.Errorf("list: %+v %v", rs, err)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"lola", "María José", "ana.garcia@example.com", strings.Repeat("ñ", MaxName)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "  ", "lo\x00la", "eve\x1b]0;pwned\x07", "a\nb", "x\u202ey", "\xff", strings.Repeat("a", MaxName+1)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, File), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a damaged file: %v", err)
	}
}
