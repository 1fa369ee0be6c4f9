package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// bob's card: raw as the reader sends it, and as the hex2dec pipeline
// makes it.
const (
	bobRawCard = "0A0B0C0D"
	bobCardNum = "168496141"
)

// TestCopyStoreThenRelease (issue 13, "Tests"): a SQLite hub with users
// (cards and PINs), an agent enrolled and connected, a first release
// accounted and a job still held is stopped and copied to PostgreSQL with
// `tessera-hub copy-store`; a node on the PostgreSQL store, on the same
// address and without open enrollment, takes the agent back on its copied
// device token, a badge of a copied card logs in, the held job (its copied
// document) prints byte-identical and its record is stored once.
func TestCopyStoreThenRelease(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	pg := testenv.StartPostgres(t)
	data := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	h := startHub(t, bin, data, addr)
	for _, u := range []string{
		fmt.Sprintf(`{"username":"alice","full_name":"Alice","cards":[%q],"pins":["2580"]}`, cardNum),
		fmt.Sprintf(`{"username":"bob","full_name":"Bob","cards":[%q],"pins":["1357"]}`, bobCardNum),
	} {
		if code := h.admin(t, http.MethodPost, "/api/v1/users", strings.NewReader(u), "application/json", nil); code != http.StatusCreated {
			t.Fatalf("create user %s: HTTP %d", u, code)
		}
	}
	doc := readDocument(t)
	bobJob := h.upload(t, "bob", "first.pdf", doc)
	aliceJob := h.upload(t, "alice", "copied.pdf", doc)

	agentDir := t.TempDir()
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
	agentID := h.communicating(t, 1)[0].ID
	waitOnline(t, a)
	releaseBefore(t, a, h, printer, bobJob, doc)
	before := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		before[u] = userJSON(t, h, u)
	}

	// The SQLite hub stops; its store is copied; a node on the copy takes
	// its address. The agent keeps running and reconnects by itself.
	h.kill(syscall.SIGTERM)
	c := &cluster{bin: bin, pg: pg, scheme: "http", client: http.DefaultClient}
	c.store = copyStore(t, bin, pg, data)
	// Without --open-enrollment and with no organisation code, the copied
	// device token is the agent's only way in.
	n := c.startNode(t, 0, addr, t.TempDir())
	if got := n.communicating(t, 1)[0].ID; got != agentID {
		t.Fatalf("agent at the PostgreSQL node: %s, want %s (its copied token)", got, agentID)
	}
	for _, u := range []string{"alice", "bob"} {
		if got := userJSON(t, n, u); got != before[u] {
			t.Errorf("%s at the PostgreSQL node: %s, want %s", u, got, before[u])
		}
	}
	if recs := n.records(t, "bob"); len(recs) != 1 || recs[0].JobID != bobJob {
		t.Errorf("bob's records copied: %+v, want the one of the first release", recs)
	}

	waitOnline(t, a)
	login(t, a, "alice", "hub:"+aliceJob)
	rec := releasePrinted(t, a, n, printer, "alice", aliceJob, doc)
	waitDrained(t, agentDir)
	if recs := n.records(t, "alice"); len(recs) != 1 {
		t.Fatalf("alice's records at the PostgreSQL node: %+v, want 1", recs)
	}
	stopAgent(t, a)
	checkLedgerHolds(t, agentDir, "hub:"+aliceJob, rec.ID, 3)
}

// releaseBefore releases bob's job on the SQLite hub (the accounting
// that copy-store copies), then empties the printer's spool so that the
// release after the copy is checked alone.
func releaseBefore(t *testing.T, a *agent, h *hub, printer *testenv.IPPEve, jobID string, doc []byte) {
	t.Helper()
	a.swipe(t, bobRawCard)
	a.waitSession(t, "bob logged in with his job", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != "bob" || jobState(v, "hub:"+jobID) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	releasePrinted(t, a, h, printer, "bob", jobID, doc)
	a.post(t, "/api/v1/logout", "")
	for _, f := range keptPDFs(printer) {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// releasePrinted releases owner's hub job jobID at the logged-in agent
// and waits until it printed, the printer kept exactly doc and the hub h
// holds one record of it (3 pages), which it returns. (releaseOnce is for
// jobs whose record names the agent's own job id.)
func releasePrinted(t *testing.T, a *agent, h *hub, printer *testenv.IPPEve, owner, jobID string, doc []byte) hubRecord {
	t.Helper()
	id := "hub:" + jobID
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	checkKeptOnce(t, printer, doc)
	var rec hubRecord
	testutil.WaitErr(t, 15*time.Second, owner+"'s one record at the hub", func() error {
		recs := h.records(t, owner)
		if len(recs) != 1 || recs[0].JobID != jobID || recs[0].Pages != 3 || recs[0].Type != "print" {
			return fmt.Errorf("%+v", recs)
		}
		rec = recs[0]
		return nil
	})
	return rec
}

// copyStore runs `tessera-hub copy-store` from the SQLite hub in data to
// a new database of pg and returns the store flags of a node on it.
func copyStore(t *testing.T, bin binaries, pg *testenv.Postgres, data string) []string {
	t.Helper()
	dir := t.TempDir()
	dsnFile, keyFile := filepath.Join(dir, "db.dsn"), filepath.Join(dir, "secrets.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(dsnFile, []byte(pg.NewDatabase(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin.hub, "copy-store", "--from", data, "--to-file", dsnFile, "--secrets-key-file", keyFile)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("copy-store: %v\n%s", err, out.String())
	}
	t.Logf("copy-store:\n%s", out.String())
	return []string{"--db-file", dsnFile, "--secrets-key-file", keyFile}
}

// userJSON is the admin API's view of a user: cards, PINs (as counts or
// flags, never in clear) and all.
func userJSON(t *testing.T, h *hub, username string) string {
	t.Helper()
	var v map[string]any
	if code := h.admin(t, http.MethodGet, "/api/v1/users/"+username, nil, "", &v); code != http.StatusOK {
		t.Fatalf("GET user %s: HTTP %d", username, code)
	}
	return fmt.Sprint(v)
}
