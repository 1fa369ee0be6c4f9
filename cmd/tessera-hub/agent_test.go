package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/protocol"
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

// tessera-hub agent new-token gives an enrolled agent a new device token
// (its token file was lost, its SD card replaced): the old token stops
// working, only the new one's hash is kept, and an unknown id is refused.
// It needs the data directory, so the admin API cannot do it.
func TestAgentNewToken(t *testing.T) {
	ctx := t.Context()
	data := filepath.Join(t.TempDir(), "hub")
	old, err := hub.AddAgent(ctx, hub.StoreLocation{DataDir: data}, "printer-1")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"agent", "new-token", "printer-1", "--data", data}, &out, &errb, func(string) string { return "" }); err != nil {
		t.Fatalf("agent new-token: %v (stderr %q)", err, errb.String())
	}
	if !tokenRe.MatchString(out.String()) || strings.TrimSpace(out.String()) == old {
		t.Fatalf("agent new-token printed %q, want a new token alone", out.String())
	}
	token := strings.TrimSpace(out.String())
	h, err := hub.Open(ctx, hub.Config{DataDir: data, AdminToken: "admin-token-for-the-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		token string
		want  int
	}{{token, http.StatusSwitchingProtocols}, {old, http.StatusUnauthorized}} {
		hdr := http.Header{"Authorization": {"Bearer " + tc.token}}
		d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
		ws, resp, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+protocol.AgentPath, hdr)
		if ws != nil {
			ws.Close()
		}
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("connect with the %s token: %v %v, want %d", map[bool]string{true: "new", false: "old"}[tc.token == token], resp, err, tc.want)
		}
	}
	out.Reset()
	err = run(ctx, []string{"agent", "new-token", "printer-9", "--data", data}, &out, &errb, func(string) string { return "" })
	if !errors.Is(err, hub.ErrNoSuchAgent) || out.Len() != 0 {
		t.Errorf("unknown id: err %v, stdout %q; want ErrNoSuchAgent and nothing printed", err, out.String())
	}
}
