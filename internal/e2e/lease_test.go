package e2e

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// uploadFor uploads doc for owner, meant for the printer of agent agentID
// (the hub leases it to that agent).
func (h *hub) uploadFor(t testing.TB, owner, name, agentID string, doc []byte) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("owner", owner)
	_ = mw.WriteField("name", name)
	_ = mw.WriteField("agent_id", agentID)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(doc)
	_ = mw.Close()
	var out struct{ ID string }
	if code := h.admin(t, "POST", "/api/v1/jobs", &buf, mw.FormDataContentType(), &out); code != http.StatusCreated || out.ID == "" {
		t.Fatalf("upload %s: HTTP %d id %q", name, code, out.ID)
	}
	return out.ID
}

// loginWithJob swipes alice's card at a and waits for her session and the
// state of job id in it (want: a job state, or "" for not listed).
func loginWithJob(t *testing.T, a *agent, id, want string) sessionView {
	t.Helper()
	a.waitSession(t, "online or offline mode", func(v sessionView) error {
		if v.Cloud != "online" && !v.OfflineMode {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	a.swipe(t, rawCard)
	return a.waitSession(t, fmt.Sprintf("alice's session with %s %q", id, want), func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != "alice" || jobState(v, id) != want {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
}

func logout(t *testing.T, a *agent) {
	t.Helper()
	a.post(t, "/api/v1/logout", "{}")
	a.waitSession(t, "idle", func(v sessionView) error {
		if v.State != "idle" {
			return fmt.Errorf("state %q", v.State)
		}
		return nil
	})
}

// TestLeaseOutage, the lease test of issue 11 with the real binaries
// (tessera-hub, two tessera agents, ippeveprinter): a job uploaded for
// printer A is prefetched there (an encrypted copy in its spool). Printer B
// cannot print it before the outage (its release fails: the hub refuses the
// fetch, the job held at A). The hub is killed; alice logs in offline at A
// and releases the job from the copy: it prints. The hub comes back on the
// same data: A's outbox brings the printed status and one offline record;
// B no longer lists the job. The printer printed exactly one document.
func TestLeaseOutage(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	hubDir := t.TempDir()
	h := startHub(t, bin, hubDir, "")
	h.createUser(t, "alice", cardNum)
	doc := readDocument(t)

	dirA := t.TempDir()
	ippAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := startAgent(t, bin, dirA, h.url, printer.URI, "", "", "--ipp-listen", ippAddr,
		"--config", offlineConfig(t, `{"offline_grace":"1s"}`))
	stA := openLedger(t, dirA)
	idA, err := stA.AgentID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	jobID := h.uploadFor(t, "alice", "leased.pdf", idA, doc)
	id := "hub:" + jobID
	testutil.WaitErr(t, 30*time.Second, "A prefetches the leased job and caches alice", func() error {
		copies, _ := filepath.Glob(filepath.Join(dirA, "spool", "copies", "*.doc.age"))
		if len(copies) != 1 || !cached(t, stA, "alice") {
			return fmt.Errorf("copies %v, alice cached %v", copies, cached(t, stA, "alice"))
		}
		return nil
	})

	// B, online, lists the job but cannot print it: A holds it.
	b := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "")
	loginWithJob(t, b, id, "held")
	if code, body := b.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("B's release: HTTP %d %v", code, body)
	}
	b.waitSession(t, "B's release refused", func(v sessionView) error {
		if s := jobState(v, id); s != "failed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	logout(t, b)
	if j := h.job(t, "alice", jobID); j.State != "held" {
		t.Fatalf("the hub's job after B's attempt: %+v, want held", j)
	}

	// The outage: alice releases the job at A from its copy.
	h.kill(syscall.SIGKILL)
	waitOfflineMode(t, a)
	v := loginWithJob(t, a, id, "held")
	if !v.OfflineSession {
		t.Fatalf("A's session during the outage is not offline: %+v", v)
	}
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("A's release: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printed at A", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	logout(t, a)

	// The hub returns: one printed job, one offline record.
	h = startHub(t, bin, hubDir, h.addr)
	testutil.WaitErr(t, 60*time.Second, "the hub holds the printed job and its record", func() error {
		j, recs := h.job(t, "alice", jobID), h.records(t, "alice")
		if j.State != "printed" || len(recs) != 1 || recs[0].JobID != jobID || !recs[0].Offline || recs[0].Pages != 3 {
			return fmt.Errorf("job %+v, records %+v", j, recs)
		}
		return nil
	})
	b.waitSession(t, "B online again", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	loginWithJob(t, b, id, "")
	logout(t, b)
	kept, _ := filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
	if len(kept) != 1 {
		t.Fatalf("the printer kept %d documents, want 1: %v", len(kept), kept)
	}
	if copies, _ := filepath.Glob(filepath.Join(dirA, "spool", "copies", "*")); len(copies) != 0 {
		t.Errorf("A still keeps %v after printing", copies)
	}
}
