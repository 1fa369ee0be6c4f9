package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// TestIPPDirectPrintsAndCharges: a workstation prints to the agent's
// /ipp/direct queue as erin (a real ipptool Print-Job). With nobody at the
// printer, the document prints at once, byte-identical on ippeveprinter,
// and is charged to erin exactly once, in the agent's ledger and at the hub.
func TestIPPDirectPrintsAndCharges(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	ipptool := testenv.Require(t, "ipptool")
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "erin", cardNum)
	doc := readDocument(t)
	agentDir := t.TempDir()
	ippAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "", "--ipp-listen", ippAddr, "--ipp-direct")
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})

	cmd := exec.Command(ipptool, "-t", "-f", document, "ipp://"+ippAddr+"/ipp/direct",
		"/usr/share/cups/ipptool/print-job.test")
	cmd.Env = append(os.Environ(), "CUPS_USER=erin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("workstation print to /ipp/direct: %v\n%s", err, out)
	}

	var hubRec hubRecord
	testutil.WaitErr(t, 30*time.Second, "one record for erin at the hub", func() error {
		recs := h.records(t, "erin")
		if len(recs) != 1 {
			return fmt.Errorf("records %+v", recs)
		}
		hubRec = recs[0]
		return nil
	})
	if r := hubRec; r.Owner != "erin" || r.Pages != 3 || r.Type != protocol.RecordPrint || r.Offline {
		t.Fatalf("hub record %+v, want an online print record of 3 pages for erin", r)
	}
	checkKeptOnce(t, printer, doc)
	// Nobody logged in: a direct job is never offered for release.
	if v := a.session(t); v.State != "idle" || len(v.Jobs) != 0 {
		t.Fatalf("session after a direct job: state %q jobs %+v, want idle and none", v.State, v.Jobs)
	}

	stopAgent(t, a)
	store := openLedger(t, agentDir)
	all, err := store.Records(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var erins []protocol.Record
	for _, r := range all {
		if r.Owner == "erin" {
			erins = append(erins, r)
		}
	}
	if len(erins) != 1 || erins[0].ID != hubRec.ID || erins[0].Pages != 3 || erins[0].Type != protocol.RecordPrint {
		t.Fatalf("agent ledger for erin %+v, want one print record %s of 3 pages", erins, hubRec.ID)
	}
	if st, err := store.OutboxStats(context.Background()); err != nil || st.Pending != 0 {
		t.Fatalf("outbox after sync: %+v %v, want empty", st, err)
	}
	// The drained outbox resent nothing the hub counted twice.
	if recs := h.records(t, "erin"); len(recs) != 1 {
		t.Fatalf("hub records after the agent stopped: %+v, want 1", recs)
	}
}
