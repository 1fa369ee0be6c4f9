package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// oidSharpCopies is the Sharp counter table's "Copies" row, as the Sharp
// profile reads it from the MX-3570N recording (the meter's tests move the
// same row).
const oidSharpCopies = "1.3.6.1.4.1.2385.1.1.19.2.1.3.4.4.60"

// outageSessions is how many sessions the outage test runs: a few in make
// test, TESSERA_SOAK_SESSIONS (500 in make soak) otherwise.
func outageSessions(t *testing.T) int {
	n := 6
	if v := os.Getenv("TESSERA_SOAK_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			t.Fatalf("TESSERA_SOAK_SESSIONS=%q", v)
		}
	}
	return n
}

// outageRig is the outage test's parts: the real hub, agent,
// ippeveprinter and snmpsim with a copy counter that moves.
type outageRig struct {
	bin     binaries
	doc     []byte
	h       *hub
	a       *agent
	ipp     string // the agent's own IPP queue
	sim     string
	copies  uint32 // the simulated copy counter
	ipptool string
}

const outageCommunity = "sharp_mx3570n_outage"

func startOutageRig(t *testing.T, users int) *outageRig {
	t.Helper()
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	r := &outageRig{bin: build(t), ipptool: testenv.Require(t, "ipptool"), doc: readDocument(t)}
	dir, recorded := testenv.WritableRecording(t, "sharp_mx3570n", oidSharpCopies, outageCommunity)
	r.sim, r.copies = testenv.StartSNMPSim(t, dir), recorded
	r.h = startHub(t, r.bin, t.TempDir(), "")
	for i := range users {
		_, number := benchCard(i)
		body, _ := json.Marshal(map[string]any{"username": fmt.Sprintf("o%d", i), "cards": []string{number},
			"policy": map[string]any{"quota_pages": 100000}})
		if code := r.h.admin(t, "POST", "/api/v1/users", bytes.NewReader(body), "application/json", nil); code != http.StatusCreated {
			t.Fatalf("create o%d: HTTP %d", i, code)
		}
	}
	r.ipp = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	snmpURL := "snmp://" + outageCommunity + "@" + r.sim + "?version=2c&timeout=2s"
	agentDir := t.TempDir()
	r.a = startAgent(t, r.bin, agentDir, r.h.url, printer.URI, "", "", "--ipp-listen", r.ipp, "--snmp", snmpURL,
		"--config", offlineConfig(t, `{"offline_grace":"1s","session_timeout":"10m"}`))
	// The agent is every user's home printer: their hub jobs are leased
	// to it.
	id, err := openLedger(t, agentDir).AgentID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		body, _ := json.Marshal(map[string]any{"home_agent": id})
		if code := r.h.admin(t, "PUT", fmt.Sprintf("/api/v1/users/o%d", i), bytes.NewReader(body), "application/json", nil); code != http.StatusOK {
			t.Fatalf("home agent of o%d: HTTP %d", i, code)
		}
	}
	testutil.WaitErr(t, 60*time.Second, "every user cached", func() error {
		if n := strings.Count(r.a.Output(), `users=`+strconv.Itoa(users)); n == 0 {
			return fmt.Errorf("no sync of %d users logged", users)
		}
		return nil
	})
	return r
}

// leaseJobs uploads count jobs for user i, leased to the agent (its home
// printer), and waits until the agent holds copies of all the leased jobs
// so far (total).
func (r *outageRig) leaseJobs(t *testing.T, i, count, total int) {
	t.Helper()
	for k := range count {
		r.h.upload(t, fmt.Sprintf("o%d", i), fmt.Sprintf("leased-%d-%d.pdf", i, k), r.doc)
	}
	testutil.WaitErr(t, 120*time.Second, "the leased jobs prefetched", func() error {
		if c := r.logCount("leased job prefetched"); c < total {
			return fmt.Errorf("%d of %d prefetched", c, total)
		}
		return nil
	})
}

// logCount counts a message in the agent's log.
func (r *outageRig) logCount(msg string) int { return strings.Count(r.a.Output(), `msg="`+msg+`"`) }

// login badges user i in offline mode and waits for the meter's starting
// counters (the session's n-th), so that what follows is this session's.
func (r *outageRig) login(t *testing.T, i, n int) {
	t.Helper()
	raw, _ := benchCard(i)
	r.a.swipe(t, raw)
	r.a.waitSession(t, "an offline session", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != fmt.Sprintf("o%d", i) || !v.OfflineSession {
			return fmt.Errorf("state %q user %+v offline session %v notice %+v", v.State, v.User, v.OfflineSession, v.Notice)
		}
		return nil
	})
	testutil.WaitErr(t, 60*time.Second, "the session's starting counters", func() error {
		if c := r.logCount("the session's starting counters are read"); c < n {
			return fmt.Errorf("%d sessions metered at login", c)
		}
		return nil
	})
}

// logout ends the session and waits for the meter to settle it (the n-th).
func (r *outageRig) logout(t *testing.T, n int) {
	t.Helper()
	if code, _ := r.a.post(t, "/api/v1/logout", "{}"); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d", code)
	}
	testutil.WaitErr(t, 60*time.Second, "the session metered", func() error {
		if c := r.logCount("session metered"); c < n {
			return fmt.Errorf("%d sessions metered", c)
		}
		return nil
	})
}

// copySession: user i copies k pages at the printer.
func (r *outageRig) copySession(t *testing.T, i, n int, k uint32) {
	t.Helper()
	r.login(t, i, n)
	r.copies += k
	testenv.SetCounter(t, r.sim, outageCommunity, oidSharpCopies, r.copies)
	r.logout(t, n)
}

// localSession: user i prints to the agent's own queue from a
// workstation, then releases the job at the printer.
func (r *outageRig) localSession(t *testing.T, i, n int) {
	t.Helper()
	cmd := exec.Command(r.ipptool, "-t", "-f", document, "ipp://"+r.ipp+"/ipp/print", "/usr/share/cups/ipptool/print-job.test")
	cmd.Env = append(os.Environ(), fmt.Sprintf("CUPS_USER=o%d", i))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("workstation print: %v\n%s", err, out)
	}
	r.login(t, i, n)
	r.releaseFirst(t, "local:")
	r.logout(t, n)
}

// releaseFirst releases the first held job of the session whose id has
// prefix (local:, hub:) and waits until it printed.
func (r *outageRig) releaseFirst(t *testing.T, prefix string) {
	t.Helper()
	var id string
	r.a.waitSession(t, "a "+prefix+" job listed", func(v sessionView) error {
		for _, j := range v.Jobs {
			if strings.HasPrefix(j.ID, prefix) && j.State == "held" {
				id = j.ID
				return nil
			}
		}
		return fmt.Errorf("%+v", v.Jobs)
	})
	if code, body := r.a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	r.a.waitSession(t, "printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("job %s %q", id, s)
		}
		return nil
	})
}

// leasedSession: user i releases one of their leased hub jobs at the
// printer while the hub is down.
func (r *outageRig) leasedSession(t *testing.T, i, n int) {
	t.Helper()
	r.login(t, i, n)
	r.releaseFirst(t, "hub:")
	r.logout(t, n)
}

// allRecords pages through the hub's accounting records.
func (h *hub) allRecords(t *testing.T) []hubRecord {
	t.Helper()
	var all []hubRecord
	cursor := ""
	for {
		var page struct {
			Records []hubRecord
			Next    *string
		}
		q := "/api/v1/accounting?limit=500"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if code := h.admin(t, "GET", q, nil, "", &page); code != http.StatusOK {
			t.Fatalf("accounting: HTTP %d", code)
		}
		all = append(all, page.Records...)
		if page.Next == nil {
			return all
		}
		cursor = *page.Next
	}
}

// quota is a user's quota balance at the hub.
func (h *hub) quota(t *testing.T, user string) int {
	t.Helper()
	var v struct {
		Policy *struct {
			QuotaPages *int `json:"quota_pages"`
		} `json:"policy"`
	}
	if code := h.admin(t, "GET", "/api/v1/users/"+user, nil, "", &v); code != http.StatusOK || v.Policy == nil || v.Policy.QuotaPages == nil {
		t.Fatalf("user %s: HTTP %d %+v", user, code, v)
	}
	return *v.Policy.QuotaPages
}

// TestOutage, with the real binaries (hub, agent, ippeveprinter, snmpsim
// with a copy counter that moves): the agent is its users' home printer,
// and hub jobs uploaded for them are leased to it and prefetched; the hub
// is killed; sessions happen at the agent in offline mode, in turn a
// release from its own queue, a release of a leased hub job and a copy
// session; the hub comes back; within 60 s it holds exactly one record
// per session, none twice, each of the right user and type and offline,
// and every user's quota is lowered by exactly their pages. make test runs
// 6 sessions; make soak 500 (TESSERA_SOAK_SESSIONS).
func TestOutage(t *testing.T) {
	const users = 4
	sessions := outageSessions(t)
	r := startOutageRig(t, users)
	// Every third session releases a leased hub job: uploaded now, while
	// the hub is there, and prefetched by the agent.
	leased := map[int]int{}
	for n := 1; n <= sessions; n++ {
		if n%3 == 2 {
			leased[n%users]++
		}
	}
	total := 0
	for i, c := range leased {
		total += c
		r.leaseJobs(t, i, c, total)
	}
	r.h.kill(syscall.SIGKILL)
	waitOfflineMode(t, r.a)

	var wants []outageWant
	pages := map[string]int{}
	for n := 1; n <= sessions; n++ {
		i := n % users
		user := fmt.Sprintf("o%d", i)
		switch n % 3 {
		case 0:
			k := uint32(1 + n%5)
			r.copySession(t, i, n, k)
			wants = append(wants, outageWant{user, "copy"})
			pages[user] += int(k)
		case 1:
			r.localSession(t, i, n)
			wants = append(wants, outageWant{user, "print"})
		case 2:
			r.leasedSession(t, i, n)
			wants = append(wants, outageWant{user, "print"})
		}
	}

	r.h = startHub(t, r.bin, r.h.dir, r.h.addr)
	back := time.Now()
	var recs []hubRecord
	testutil.WaitErr(t, 60*time.Second, "every session's record at the hub", func() error {
		recs = r.h.allRecords(t)
		if len(recs) < len(wants) {
			return fmt.Errorf("%d of %d records", len(recs), len(wants))
		}
		return nil
	})
	t.Logf("%d sessions' records at the hub %v after it came back", sessions, time.Since(back).Round(time.Millisecond))
	checkOutageRecords(t, recs, wants, pages)
	for i := range users {
		user := fmt.Sprintf("o%d", i)
		if q := r.h.quota(t, user); q != 100000-pages[user] {
			t.Errorf("%s's quota %d, want %d", user, q, 100000-pages[user])
		}
	}
}

// outageWant is the record a session must leave: its user and type.
type outageWant struct{ user, typ string }

// checkOutageRecords: exactly one record per session, none twice, each
// offline, of the right user and type; print pages added to pages.
func checkOutageRecords(t *testing.T, recs []hubRecord, wants []outageWant, pages map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	got := map[string]int{}
	for _, rec := range recs {
		if seen[rec.ID] {
			t.Errorf("record %s twice", rec.ID)
		}
		seen[rec.ID] = true
		if !rec.Offline {
			t.Errorf("record %+v is not offline", rec)
		}
		got[rec.Owner+" "+rec.Type]++
		if rec.Type == "print" {
			pages[rec.Owner] += rec.Pages
			if rec.Pages != 3 {
				t.Errorf("print record %+v: want the document's 3 pages", rec)
			}
		}
	}
	exp := map[string]int{}
	for _, w := range wants {
		exp[w.user+" "+w.typ]++
	}
	if len(recs) != len(wants) || fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("records by user and type %v, want %v (%d records for %d sessions)", got, exp, len(recs), len(wants))
	}
}
