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
// (tessera-hub, two tessera agents, ippeveprinter): two jobs uploaded for
// printer A are prefetched there (encrypted copies in its spool). Before
// the outage alice releases the second at printer B: B asks the hub for it,
// A (connected, not printing it) gives its copy back, and it prints at B.
// The hub is killed; alice logs in offline at A and releases the first from
// its copy: it prints. The hub comes back on the same data: A's outbox
// brings the printed status and one offline record; B does not list the
// job. Each job printed once, one record each.
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
	takenID := h.uploadFor(t, "alice", "taken.pdf", idA, doc)
	id, taken := "hub:"+jobID, "hub:"+takenID
	copies := func() []string {
		names, _ := filepath.Glob(filepath.Join(dirA, "spool", "copies", "*.doc.age"))
		return names
	}
	testutil.WaitErr(t, 30*time.Second, "A prefetches both leased jobs and caches alice", func() error {
		if len(copies()) != 2 || !cached(t, stA, "alice") {
			return fmt.Errorf("copies %v, alice cached %v", copies(), cached(t, stA, "alice"))
		}
		return nil
	})

	// Before the outage, alice takes the second job at B: A gives it back.
	b := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "")
	loginWithJob(t, b, taken, "held")
	if code, body := b.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, taken)); code != http.StatusAccepted {
		t.Fatalf("B's release: HTTP %d %v", code, body)
	}
	b.waitSession(t, "printed at B", func(v sessionView) error {
		if s := jobState(v, taken); s != "printed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	logout(t, b)
	if n := len(copies()); n != 1 {
		t.Fatalf("A keeps %d copies after giving one back, want 1", n)
	}

	// The outage: alice releases the first job at A from its copy.
	h.kill(syscall.SIGKILL)
	waitOfflineMode(t, a)
	v := loginWithJob(t, a, id, "held")
	if !v.OfflineSession || jobState(v, taken) != "" {
		t.Fatalf("A's session during the outage: %+v, want offline, without the job B printed", v)
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

	// The hub returns: each job printed once, one record each.
	h = startHub(t, bin, hubDir, h.addr)
	testutil.WaitErr(t, 60*time.Second, "the hub holds the printed jobs and their records", func() error {
		j, recs := h.job(t, "alice", jobID), h.records(t, "alice")
		if j.State != "printed" || h.job(t, "alice", takenID).State != "printed" || len(recs) != 2 {
			return fmt.Errorf("job %+v, records %+v", j, recs)
		}
		for _, r := range recs {
			if r.Pages != 3 || r.Offline != (r.JobID == jobID) || r.JobID != jobID && r.JobID != takenID {
				return fmt.Errorf("record %+v", r)
			}
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
	if len(kept) != 2 {
		t.Fatalf("the printer kept %d documents, want 2 (each job once): %v", len(kept), kept)
	}
	if left, _ := filepath.Glob(filepath.Join(dirA, "spool", "copies", "*")); len(left) != 0 {
		t.Errorf("A still keeps %v after printing", left)
	}
}
