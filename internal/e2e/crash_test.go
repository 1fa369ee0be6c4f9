package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestCrashReleases releases 100 jobs while the agent is killed with SIGKILL
// at random moments and restarted. Afterwards every job printed exactly
// once, the ledger and the hub hold one record per job, and no job is both
// printed and still held.
func TestCrashReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute or two")
	}
	const jobs = 100
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "crash", cardNum)
	doc := readDocument(t)
	ids := map[string]bool{}
	for i := range jobs {
		ids[h.upload(t, "crash", fmt.Sprintf("job-%03d.pdf", i), doc)] = true
	}
	agentDir := t.TempDir()
	panelAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	readerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rng := rand.New(rand.NewPCG(1, 2))
	held := func() int {
		n := 0
		for id := range ids {
			if s := h.job(t, "crash", id).State; s != "printed" {
				n++
			}
		}
		return n
	}
	kills := 0
	deadline := time.Now().Add(3 * time.Minute)
	for round := 0; held() > 0; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d rounds, %d jobs are still not printed", round, held())
		}
		a := startAgent(t, bin, agentDir, h.url, printer.URI, panelAddr, readerAddr)
		a.waitSession(t, "online", func(v sessionView) error {
			if v.Cloud != "online" {
				return fmt.Errorf("cloud %q", v.Cloud)
			}
			return nil
		})
		time.Sleep(2100 * time.Millisecond) // the reader's debounce of the same card
		a.swipe(t, rawCard)
		a.waitSession(t, "logged in", func(v sessionView) error {
			if v.State != "active" {
				return fmt.Errorf("state %q", v.State)
			}
			return nil
		})
		_, _ = a.release(t, `{"all":true}`)
		if round < 12 {
			time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
			a.kill(syscall.SIGKILL)
			kills++
			continue
		}
		// Later rounds let the agent finish, so the test ends.
		eventually(t, "releases settle", time.Minute, func() error {
			v := a.session(t)
			for _, j := range v.Jobs {
				if j.State == "queued" || j.State == "sending" || j.State == "printing" {
					return fmt.Errorf("%s %s", j.ID, j.State)
				}
			}
			return nil
		})
		a.post(t, "/api/v1/logout", "")
		eventually(t, "outbox drained", 30*time.Second, func() error {
			if n := held(); n > 0 && len(h.records(t, "crash")) < jobs-n {
				return fmt.Errorf("records behind")
			}
			return nil
		})
		a.kill(syscall.SIGTERM)
	}
	t.Logf("%d jobs printed with %d SIGKILLs", jobs, kills)

	// The printer's spool: each job's document exactly once, complete.
	files, _ := filepath.Glob(filepath.Join(printer.Spool, "*"))
	nameRe := regexp.MustCompile(`tessera-hub-([0-9a-f]+)-\d+-`)
	complete := map[string]int{}
	for _, f := range files {
		m := nameRe.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			t.Errorf("unexpected spool file %s", f)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(data, doc) {
			complete[m[1]]++
		}
	}
	for id := range ids {
		if complete[id] != 1 {
			t.Errorf("job %s printed %d times", id, complete[id])
		}
	}
	// The hub: one record per job, every job printed.
	eventually(t, "hub records", 30*time.Second, func() error {
		if n := len(h.records(t, "crash")); n != jobs {
			return fmt.Errorf("%d records, want %d", n, jobs)
		}
		return nil
	})
	seen := map[string]bool{}
	for _, r := range h.records(t, "crash") {
		if seen[r.JobID] {
			t.Errorf("job %s charged twice", r.JobID)
		}
		seen[r.JobID] = true
	}
	// The ledger: one record per job.
	store := openLedger(t, agentDir)
	for id := range ids {
		recs, err := store.RecordsForJob(context.Background(), "hub:"+id)
		if err != nil || len(recs) != 1 {
			t.Errorf("ledger for %s: %d records %v", id, len(recs), err)
		}
	}
}
