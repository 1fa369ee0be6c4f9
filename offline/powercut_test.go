package offline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// The power-cut test re-runs this test binary as a child (the standard
// helper-process pattern) that releases jobs in a loop, and kills it with
// SIGKILL at a random moment. The child prints a line only after the store
// call it reports has returned, so every reported commit must survive.
const (
	// powerCutPaper is the paper of every record the child commits (A3:
	// each page is two clicks).
	powerCutPaper    = "iso_a3_297x420mm"
	envPowerCutDB    = "TESSERA_OFFLINE_POWERCUT_DB"
	envPowerCutRound = "TESSERA_OFFLINE_POWERCUT_ROUND"
)

// TestPowerCutHelper is the child; it does nothing in a normal run.
func TestPowerCutHelper(t *testing.T) {
	path := os.Getenv(envPowerCutDB)
	if path == "" {
		t.Skip("helper process for TestPowerCut")
	}
	round := os.Getenv(envPowerCutRound)
	ctx := context.Background()
	fail := func(format string, args ...any) {
		fmt.Printf("error "+format+"\n", args...)
		os.Exit(3)
	}
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fail("open: %v", err)
	}
	fmt.Println("opened")
	// Recovery as the engine would do it without a printer to ask.
	unfinished, err := s.Unfinished(ctx)
	if err != nil {
		fail("unfinished: %v", err)
	}
	for _, c := range unfinished {
		if err := s.Fail(ctx, c.JobID, "agent restarted"); err != nil {
			fail("fail %s: %v", c.JobID, err)
		}
	}
	// A child the parent forgot to kill must not run forever.
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		jobID := fmt.Sprintf("hub:r%s-%d", round, i)
		if _, err := s.Claim(ctx, jobID, "alice", false); err != nil {
			fail("claim %s: %v", jobID, err)
		}
		if err := s.MarkSending(ctx, jobID, Settings{Pages: 2, Copies: 1}); err != nil {
			fail("sending %s: %v", jobID, err)
		}
		if err := s.MarkPrinting(ctx, jobID, i+1); err != nil {
			fail("printing %s: %v", jobID, err)
		}
		pages, start := 1+i%7, time.Now()
		rec, err := s.CommitPrinted(ctx, jobID, protocol.Record{Pages: pages, Copies: 1, Sheets: pages,
			PaperSize: powerCutPaper, Clicks: 2 * pages, StartedAt: start.Add(-time.Second), FinishedAt: start})
		if err != nil {
			fail("commit %s: %v", jobID, err)
		}
		fmt.Printf("committed %s %s\n", rec.ID, jobID)
		if i%3 == 2 {
			// Play the hub: announce before acking, since the kill may land
			// after the delete is durable but before we could say so.
			statusKey := jobStatusKey(jobID, 1, StatePrinted)
			fmt.Printf("acking %s %s\n", rec.ID, statusKey)
			if err := s.Ack(ctx, rec.ID, statusKey); err != nil {
				fail("ack %s: %v", rec.ID, err)
			}
		}
	}
	fail("not killed within a minute")
}

func TestPowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	path := filepath.Join(t.TempDir(), "agent.db")
	committed := map[string]string{} // record id -> job id, over all rounds
	acking := map[string]bool{}      // outbox keys that may have been acknowledged
	rounds := soakKills(t, 8)
	for round := range rounds {
		lines := runAndKill(t, path, round)
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "committed":
				committed[f[1]] = f[2]
			case len(f) == 3 && f[0] == "acking":
				acking[f[1]], acking[f[2]] = true, true
			case len(f) >= 1 && f[0] == "error":
				t.Fatalf("round %d: child failed: %s", round, l)
			}
		}
		checkAfterCut(t, path, round, committed, acking)
	}
	if len(committed) == 0 {
		t.Fatal("the child never committed a record")
	}
	t.Logf("%d records committed over %d kills", len(committed), rounds)
}

// runAndKill starts the child on path and SIGKILLs it at a random moment:
// mostly while it commits (after a random number of commits, plus a random
// few milliseconds), and in some rounds as early as while it opens.
func runAndKill(t *testing.T, path string, round int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPowerCutHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), envPowerCutDB+"="+path, envPowerCutRound+"="+fmt.Sprint(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	killed := false
	defer func() {
		if !killed {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}()

	lineCh := make(chan string)
	readDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lineCh <- sc.Text()
		}
		close(lineCh)
		readDone <- sc.Err()
	}()

	early := round%4 == 3
	wantCommits := 1 + rand.IntN(40)
	var killAt <-chan time.Time
	if early {
		killAt = time.After(time.Duration(rand.IntN(300)) * time.Millisecond)
	}
	var lines []string
	commits := 0
	timeout := time.After(2 * time.Minute)
loop:
	for {
		select {
		case l, ok := <-lineCh:
			if !ok {
				break loop // the child exited by itself
			}
			lines = append(lines, l)
			if strings.HasPrefix(l, "committed ") {
				commits++
				if !early && commits == wantCommits {
					killAt = time.After(time.Duration(rand.IntN(5000)) * time.Microsecond)
				}
			}
		case <-killAt:
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			killAt = nil
		case <-timeout:
			t.Fatalf("round %d: child neither committed nor died in time; output so far: %q", round, lines)
		}
	}
	if err := <-readDone; err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read child output: %v", err)
	}
	err = cmd.Wait()
	killed = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, want killed by SIGKILL; output %q", round, err, lines)
	}
	return lines
}

// checkAfterCut opens the database as the restarted agent would and checks
// that it is whole and holds every commit the child reported.
func checkAfterCut(t *testing.T, path string, round int, committed map[string]string, acking map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("round %d: Open after the kill: %v", round, err)
	}
	defer s.Close()

	var integrity string
	if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	if integrity != "ok" {
		t.Fatalf("round %d: integrity_check: %s", round, integrity)
	}

	recs, err := s.Records(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	inLedger := map[string]protocol.Record{}
	for _, r := range recs {
		inLedger[r.ID] = r
	}
	items, err := s.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	inOutbox := map[string]bool{}
	for _, it := range items {
		inOutbox[it.Key] = true
	}
	for id, jobID := range committed {
		r, ok := inLedger[id]
		if !ok {
			t.Errorf("round %d: record %s (job %s) reported committed but not in the ledger", round, id, jobID)
			continue
		}
		if r.JobID != jobID {
			t.Errorf("round %d: record %s is for job %s, want %s", round, id, r.JobID, jobID)
		}
		if r.Sheets != r.Pages || r.Clicks != 2*r.Pages || r.PaperSize != powerCutPaper || r.StartedAt.IsZero() ||
			!r.FinishedAt.After(r.StartedAt) {
			t.Errorf("round %d: record %s lost its paper or times: %+v", round, id, r)
		}
		if !inOutbox[id] && !acking[id] {
			t.Errorf("round %d: record %s neither queued nor acknowledged", round, id)
		}
		statusKey := jobStatusKey(jobID, 1, StatePrinted)
		if !inOutbox[statusKey] && !acking[statusKey] {
			t.Errorf("round %d: status %s neither queued nor acknowledged", round, statusKey)
		}
		if c, _, _ := s.Get(ctx, jobID); c.State != StatePrinted {
			t.Errorf("round %d: job %s is %s, want printed", round, jobID, c.State)
		}
	}

	// Each commit is atomic: the sequence has no holes and the counter is at
	// the last record, and no record lacks its printed journal row.
	var counter int64
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'ledger'`).Scan(&counter); err != nil {
		t.Fatal(err)
	}
	if int64(len(recs)) != counter || (len(recs) > 0 && recs[0].Seq != counter) {
		t.Errorf("round %d: %d records, newest seq %v, counter %d: want 1..counter without holes",
			round, len(recs), firstSeq(recs), counter)
	}
	perJob := map[string]string{}
	for _, r := range recs {
		if c, _, _ := s.Get(ctx, r.JobID); c.State != StatePrinted {
			t.Errorf("round %d: record %s in the ledger but job %s is %s", round, r.ID, r.JobID, c.State)
		}
		// Exactly once: one record per job, however often the writer died.
		if other, dup := perJob[r.JobID]; dup {
			t.Errorf("round %d: job %s has two records, %s and %s", round, r.JobID, other, r.ID)
		}
		perJob[r.JobID] = r.ID
	}
}

// soakKills is how many times TestPowerCut kills its writer: def in
// make test, TESSERA_SOAK_KILLS under make soak (200).
func soakKills(t *testing.T, def int) int {
	v := os.Getenv("TESSERA_SOAK_KILLS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("TESSERA_SOAK_KILLS=%q: want a positive count", v)
	}
	return n
}

func firstSeq(recs []protocol.Record) any {
	if len(recs) == 0 {
		return "none"
	}
	return recs[0].Seq
}
