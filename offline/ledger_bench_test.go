package offline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appendsPerPass is how many records one pass of BenchmarkLedgerAppend
// appends on each side.
const appendsPerPass = 500

// ledgerAppendSQL is one durable ledger append, in its own transaction: the
// sequence counter moved on and the record inserted, as the store's commit
// does it (ledger.go), with literal values so the sqlite3 shell can run the
// very same text.
func ledgerAppendSQL(i int) string {
	return fmt.Sprintf(`BEGIN IMMEDIATE;
UPDATE counters SET value = value + 1 WHERE name = 'ledger';
INSERT INTO ledger (seq, id, agent_id, job_id, attempt, owner, type, pages, copies, color, duplex, offline, printer_serial, at, created_at,
	sheets, paper_size, clicks, account, started_at, finished_at)
VALUES ((SELECT value FROM counters WHERE name = 'ledger'), 'rec-%[1]d', 'agt-bench', 'local:%[1]d', 1, 'alice', 'print', 3, 2, 1, 0, 1, 'SN123', '2026-12-07T08:00:00Z', '2026-12-07T08:00:00Z',
	3, 'iso_a4_210x297mm', 3, '', '2026-12-07T07:59:00Z', '2026-12-07T08:00:00Z');
COMMIT;
`, i)
}

// BenchmarkLedgerAppend: durable ledger appends per second, one
// transaction per record, through the agent's SQLite (mattn/go-sqlite3,
// the store's connection: WAL, synchronous=FULL), against its peer in the
// same run: the sqlite3 shell running the same statements on a copy of
// the same database with the same pragmas. Metrics: appends/s of each,
// and their ratio (the target: at least 0.8).
func BenchmarkLedgerAppend(b *testing.B) {
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("sqlite3 shell missing: CI=true needs it (make deps installs it)")
		}
		b.Skip("sqlite3 shell missing; make deps installs it")
	}
	ctx := context.Background()
	var goTime, shellTime time.Duration
	next := 0
	for range b.N {
		s := newStore(b)
		peer := filepath.Join(b.TempDir(), "peer.db")
		if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, peer); err != nil {
			b.Fatal(err)
		}
		script := []string{"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", ".output /dev/null"}
		start := time.Now()
		for range appendsPerPass {
			next++
			q := ledgerAppendSQL(next)
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				b.Fatalf("append %d: %v", next, err)
			}
			script = append(script, q)
		}
		goTime += time.Since(start)
		shellTime += runShell(b, shell, peer, strings.Join(script, "\n"))
	}
	n := float64(b.N * appendsPerPass)
	goRate, shellRate := n/goTime.Seconds(), n/shellTime.Seconds()
	b.ReportMetric(goRate, "appends/s")
	b.ReportMetric(shellRate, "shell-appends/s")
	b.ReportMetric(goRate/shellRate, "ratio")
}

// runShell runs script with the sqlite3 shell on db and returns how long
// it took; the shell's own start (a few ms) is in it, as a small handicap.
func runShell(b *testing.B, shell, db, script string) time.Duration {
	b.Helper()
	cmd := exec.Command(shell, "-bail", db)
	cmd.Stdin = strings.NewReader(script)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("sqlite3: %v: %s", err, out)
	}
	var rows int
	check := exec.Command(shell, db, "SELECT count(*) FROM ledger;")
	o, err := check.Output()
	if err == nil {
		_, err = fmt.Sscan(string(o), &rows)
	}
	if err != nil || rows != appendsPerPass {
		b.Fatalf("sqlite3 appended %q rows (%v), want %d", strings.TrimSpace(string(o)), err, appendsPerPass)
	}
	return took
}
