package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// tessera-hub rotate-hub-key on a SQLite data directory keeps the old key
// in hub.key.previous (0600), refuses a second rotation while the card and
// PIN are still under it, and the hub served again logs the card and the
// PIN in (re-keying them), after which a rotation needs no --force.
func TestRotateHubKeyCommand(t *testing.T) {
	bin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-hub")
	data := filepath.Join(t.TempDir(), "hub")
	var token string
	t.Run("before", func(t *testing.T) {
		addr := serveBinary(t, bin, data) // stopped when this subtest ends
		tokb, err := os.ReadFile(filepath.Join(data, "admin-token"))
		if err != nil {
			t.Fatal(err)
		}
		body := `{"username":"alice","full_name":"Alice","cards":["04A1B2C3"],"pins":["2580"]}`
		if code, resp := adminCall(t, addr, strings.TrimSpace(string(tokb)), http.MethodPost, "/api/v1/users", body); code != http.StatusCreated {
			t.Fatalf("create user: %d %s", code, resp)
		}
		out, errs, code := runHub(t, bin, nil, "agent", "add", "printer-1", "--data", data)
		if code != 0 {
			t.Fatalf("agent add: exit %d, %s", code, errs)
		}
		token = strings.TrimSpace(out)
	})
	old, err := os.ReadFile(filepath.Join(data, "hub.key"))
	if err != nil {
		t.Fatal(err)
	}

	out, errs, code := runHub(t, bin, nil, "rotate-hub-key", "--data", data)
	if code != 0 || !strings.Contains(out, "hub.key rotated") {
		t.Fatalf("rotate-hub-key: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	prev, err := os.ReadFile(filepath.Join(data, "hub.key.previous"))
	if fi, serr := os.Stat(filepath.Join(data, "hub.key.previous")); err != nil || serr != nil || fi.Mode().Perm() != 0o600 || !bytes.Equal(prev, old) {
		t.Fatalf("hub.key.previous: %v %v, want the old key, mode 0600", err, serr)
	}
	if _, errs, code := runHub(t, bin, nil, "rotate-hub-key", "--data", data); code != 2 || !strings.Contains(errs, "1 cards and 1 PINs") {
		t.Fatalf("second rotation with the card and PIN under the previous key: exit %d, stderr %q", code, errs)
	}

	addr := serveBinary(t, bin, data)
	l, err := cloudlink.New(cloudlink.Config{HubURL: addr, AgentID: "printer-1", DeviceToken: token, Version: "1.0.0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = l.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	testutil.WaitFor(t, 10*time.Second, "the agent online", l.Online)
	for _, req := range []protocol.AuthorizeRequest{{Card: "04A1B2C3"}, {PIN: "2580"}} {
		resp, err := l.Authorize(ctx, req)
		if err != nil || resp.Status != protocol.AuthAccepted || resp.User == nil || resp.User.Username != "alice" {
			t.Fatalf("login %+v after the rotation: %+v, %v", req, resp, err)
		}
	}
	// Both re-keyed: nothing left under the previous key.
	if out, errs, code := runHub(t, bin, nil, "rotate-hub-key", "--data", data); code != 0 || !strings.Contains(out, "restart the hub") {
		t.Errorf("rotation once all is re-keyed: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
