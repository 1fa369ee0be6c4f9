package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestWorkstationPrintsToAgent: a workstation prints to the agent's own IPP
// queue as CORP\grace (a real ipptool Print-Job); grace's badge lists the
// job (user names normalised across sources); released, it prints
// byte-identical on ippeveprinter and is charged once.
func TestWorkstationPrintsToAgent(t *testing.T) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	ipptool := testenv.Require(t, "ipptool")
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "grace", cardNum)
	doc := readDocument(t)
	ippAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "", "--ipp-listen", ippAddr)
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	cmd := exec.Command(ipptool, "-t", "-f", document, "ipp://"+ippAddr+"/ipp/print", "/usr/share/cups/ipptool/print-job.test")
	cmd.Env = append(os.Environ(), `CUPS_USER=CORP\grace`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("workstation print: %v\n%s", err, out)
	}
	a.swipe(t, rawCard)
	var id string
	a.waitSession(t, "the job held on the agent is listed", func(v sessionView) error {
		for _, j := range v.Jobs {
			if strings.HasPrefix(j.ID, "local:") && j.State == "held" && j.Pages == 3 {
				id = j.ID
				return nil
			}
		}
		return fmt.Errorf("%+v", v.Jobs)
	})
	releaseOnce(t, a, h, printer, id, "grace", doc)
	// The job left the agent's queue.
	if code, _ := a.post(t, "/api/v1/refresh", ""); code != 200 {
		t.Fatalf("refresh: %d", code)
	}
	for _, j := range a.session(t).Jobs {
		if j.ID == id && j.State == "held" {
			t.Fatalf("printed job still held: %+v", j)
		}
	}
}
