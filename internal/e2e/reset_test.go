package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestFactoryResetEndToEnd: an agent that served a person (a badge login,
// a job from a workstation held in its queue, one released and charged)
// is stopped and reset with the real `tessera reset --factory`; its data
// directory then holds nothing of the person: not the name, not the card,
// not the document. A reset while the agent runs is refused.
func TestFactoryResetEndToEnd(t *testing.T) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	ipptool := testenv.Require(t, "ipptool")
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "grace", cardNum)
	doc := readDocument(t)
	ippAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	a := startAgent(t, bin, dir, h.url, printer.URI, "", "", "--ipp-listen", ippAddr)
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	for range 2 { // one to release, one left held
		cmd := exec.Command(ipptool, "-t", "-f", document, "ipp://"+ippAddr+"/ipp/print", "/usr/share/cups/ipptool/print-job.test")
		cmd.Env = append(os.Environ(), `CUPS_USER=grace`)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("workstation print: %v\n%s", err, out)
		}
	}
	a.swipe(t, rawCard)
	var id string
	a.waitSession(t, "the jobs held on the agent", func(v sessionView) error {
		held := 0
		for _, j := range v.Jobs {
			if strings.HasPrefix(j.ID, "local:") && j.State == "held" {
				id = j.ID
				held++
			}
		}
		if held != 2 {
			return fmt.Errorf("%+v", v.Jobs)
		}
		return nil
	})
	releaseOnce(t, a, h, printer, id, "grace", doc)

	reset := func() (string, error) {
		out, err := exec.Command(bin.agent, "reset", "--factory", "--data", dir).CombinedOutput()
		return string(out), err
	}
	if out, err := reset(); err == nil || !strings.Contains(out, "another tessera process uses this data directory") {
		t.Fatalf("a reset under the running agent: %v\n%s", err, out)
	}
	if found := personal(t, dir, "grace", cardNum); len(found) == 0 {
		t.Fatal("before the reset the data directory holds nothing of grace: the check would prove nothing")
	}
	stopAgent(t, a)
	if out, err := reset(); err != nil {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	if found := personal(t, dir, "grace", cardNum, string(doc[:64])); len(found) > 0 {
		t.Errorf("after the reset: %v", found)
	}
}

// personal lists the files under dir that hold any of the strings.
func personal(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				found = append(found, fmt.Sprintf("%s holds %q", filepath.Base(path), n))
			}
		}
		return nil
	})
	return found
}
