package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{43}\n$`)

// tessera-hub agent add prints the new device token alone, keeps only its
// hash, and refuses an id that exists with exit status 1.
func TestAgentAdd(t *testing.T) {
	bin := buildHub(t)
	data := filepath.Join(t.TempDir(), "hub")
	add := func(id string) (stdout, stderr string, code int) {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, "agent", "add", id, "--data", data)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	out, errs, code := add("printer-1")
	if code != 0 || !tokenRe.MatchString(out) || errs != "" {
		t.Fatalf("agent add: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	token := strings.TrimSpace(out)
	for _, f := range []string{"hub.db", "hub.db-wal"} {
		b, err := os.ReadFile(filepath.Join(data, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the token in clear", f)
		}
	}
	out, errs, code = add("printer-1")
	if code != 1 || out != "" || !strings.Contains(errs, `agent "printer-1" exists`) {
		t.Errorf("existing id: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, _, code := add("printer-2"); code != 0 || out == token+"\n" {
		t.Errorf("second agent: exit %d, same token %v", code, out == token+"\n")
	}
}
