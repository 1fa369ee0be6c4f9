package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestCUPSHeldJob: a job held in a real CUPS queue is listed for its owner
// (under another spelling of the name), released to ippeveprinter
// byte-identical, charged once, and purged from CUPS.
func TestCUPSHeldJob(t *testing.T) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	cups := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "frank", cardNum)
	doc := readDocument(t)
	cupsID := cups.Submit(t, "frank", document)
	id := fmt.Sprintf("cups:%d", cupsID)

	agentDir := t.TempDir()
	a := startCUPSAgent(t, bin, agentDir, h.url, printer.URI, cups.URL, id)
	releaseOnce(t, a, h, printer, id, "frank", doc)
	// The job left CUPS.
	a.post(t, "/api/v1/refresh", "")
	if v := a.session(t); jobState(v, id) != "" && jobState(v, id) != "printed" {
		t.Fatalf("job still listed as %q", jobState(v, id))
	}
	out, _ := exec.Command("lpstat", "-h", cups.Addr, "-W", "all", "-o").CombinedOutput()
	if strings.Contains(string(out), fmt.Sprintf("heldq-%d ", cupsID)) {
		t.Fatalf("the CUPS job was not purged:\n%s", out)
	}
	a.kill(syscall.SIGTERM)
	store := openLedger(t, agentDir)
	if recs, err := store.RecordsForJob(context.Background(), id); err != nil || len(recs) != 1 {
		t.Fatalf("ledger: %+v %v", recs, err)
	}
}
