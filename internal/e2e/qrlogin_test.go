package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// qrURL waits for the panel's QR login address and returns it.
func (a *agent) qrURL(t *testing.T) string {
	t.Helper()
	v := a.waitSession(t, "a QR login code on the idle screen", func(v sessionView) error {
		if v.QR == nil {
			return fmt.Errorf("no qr in the session")
		}
		return nil
	})
	return v.QR.URL
}

// signIn posts the hub's QR sign-in form as a phone would.
func signIn(t *testing.T, page, username, password string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(page, url.Values{"username": {username}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestQRLoginAndMobileRelease, with the real hub and agent binaries and
// ippeveprinter: the idle screen's QR code opens the hub's sign-in page;
// a wrong password is refused there; the right one opens the person's
// session at the printer (a login task) and the code no longer works.
// Then a release-job task (mobile release) prints the person's job with no
// one at the panel, byte for byte, and ends completed with the pages.
func TestQRLoginAndMobileRelease(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	body := `{"username": "alice", "full_name": "Alice", "password": "correct horse battery"}`
	if code := h.admin(t, http.MethodPost, "/api/v1/users", strings.NewReader(body), "application/json", nil); code != http.StatusCreated {
		t.Fatalf("create alice: HTTP %d", code)
	}
	doc := readDocument(t)
	jobID := h.upload(t, "alice", "report.pdf", doc)
	cfg := filepath.Join(t.TempDir(), "qr.json")
	if err := os.WriteFile(cfg, []byte(`{"login": ["card", "qr"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "", "--config", cfg)
	agentID := h.connectedAgent(t)

	page := a.qrURL(t)
	if !strings.HasPrefix(page, h.url+"/q/") {
		t.Fatalf("QR address %q is not the hub's sign-in page", page)
	}
	if resp, err := http.Get(a.panel + "/api/v1/login-qr.svg"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the panel's QR image: %v %v", resp, err)
	}
	if code, text := signIn(t, page, "alice", "wrong"); code != http.StatusUnauthorized || !strings.Contains(text, "Wrong username or password") {
		t.Fatalf("wrong password: HTTP %d", code)
	}
	if code, text := signIn(t, page, "alice", "correct horse battery"); code != http.StatusOK || !strings.Contains(text, "You are signed in") {
		t.Fatalf("sign in: HTTP %d %s", code, text)
	}
	a.waitSession(t, "alice's session opened by the QR login", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != "alice" || jobState(v, "hub:"+jobID) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code, _ := signIn(t, page, "alice", "correct horse battery"); code != http.StatusNotFound {
		t.Errorf("the spent code: HTTP %d, want 404", code)
	}
	a.post(t, "/api/v1/logout", "")
	a.waitSession(t, "idle", func(v sessionView) error {
		if v.State != "idle" {
			return fmt.Errorf("state %q", v.State)
		}
		return nil
	})

	task := h.createTask(t, agentID, "release-job", fmt.Sprintf(`{"job_id": %q, "username": "alice"}`, jobID))
	v := h.taskEnded(t, task)
	if v.State != "completed" || !bytes.Contains(v.Result, []byte(`"state":"printed"`)) {
		t.Fatalf("release-job: %+v %s", v, v.Result)
	}
	if s := a.session(t); s.State != "idle" || s.User != nil {
		t.Errorf("a session shows after a mobile release: %+v", s)
	}
	kept, _ := filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
	if len(kept) != 1 {
		t.Fatalf("printer kept %d documents, want 1", len(kept))
	}
	if got, _ := os.ReadFile(kept[0]); !bytes.Equal(got, doc) {
		t.Error("the printed document differs from the upload")
	}
	if j := h.job(t, "alice", jobID); j.State != "printed" {
		t.Errorf("hub job %+v, want printed", j)
	}
	// Charged as at the panel: one record of alice's 3 pages for the job.
	testutil.WaitErr(t, 30*time.Second, "the release's record at the hub", func() error {
		recs := h.records(t, "alice")
		if len(recs) != 1 || recs[0].JobID != jobID || recs[0].Pages != 3 {
			return fmt.Errorf("records %+v", recs)
		}
		return nil
	})
	again := h.createTask(t, agentID, "release-job", fmt.Sprintf(`{"job_id": %q, "username": "alice"}`, jobID))
	if v := h.taskEnded(t, again); v.State != "failed" {
		t.Errorf("releasing a printed job again: %+v", v)
	}
}
