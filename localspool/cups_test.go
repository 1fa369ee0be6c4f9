package localspool

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestLPThroughCUPS is a workstation printing with `lp` to a CUPS queue
// that points at the agent, set up as an administrator would (lpadmin -m
// everywhere, RECIPES.md §1 for the private cupsd).
func TestLPThroughCUPS(t *testing.T) {
	lp := testenv.Require(t, "lp")
	lpstat := testenv.Require(t, "lpstat")

	s := newSpool(t, Config{})
	held, _ := serve(t, s)
	cups := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	host := cups.Addr

	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cups.AddQueue(t, "agent", held, "-m", "everywhere")
	out := run(lp, "-h", host, "-d", "agent", "-U", testUser, "-t", "Minutes of the meeting", testdataPath(t, "gs-3-pages.pdf"))
	if !strings.Contains(out, "agent-1") {
		t.Fatalf("lp: %s", out)
	}

	testutil.WaitErr(t, 60*time.Second, "a job in the spool", func() error {
		jobs, err := s.List(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			j := jobs[0]
			// cups-filters may rewrite the PDF on the way (pdftopdf), so
			// the bytes are CUPS', not the file's; the pages are the same.
			if j.Owner != testUser || j.Name != "Minutes of the meeting" || j.Format != "application/pdf" || j.Pages != 3 {
				t.Fatalf("held job %+v", j)
			}
			t.Logf("held: %+v", j)
			d, err := s.Open(t.Context(), j.ID, testUser)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(d.Body)
			d.Body.Close()
			if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) || int64(len(b)) != j.Size {
				t.Fatalf("document: %d bytes, %v", len(b), err)
			}
			return nil
		}
		return fmt.Errorf("%d held\n%s", len(jobs), cups.ErrorLog())
	})
	// CUPS considers its part done once the job is held here: its ipp
	// backend does not wait for a pending-held job.
	testutil.WaitFor(t, 30*time.Second, "the CUPS job to complete", func() bool {
		return strings.Contains(run(lpstat, "-h", host, "-W", "completed", "-o", "agent"), "agent-1")
	})
}
