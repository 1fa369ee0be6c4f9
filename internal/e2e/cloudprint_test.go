package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestCloudPrintCUPS (issue 15, point 1): a private cupsd adds the hub's
// IPP printer driverless (lpadmin -m everywhere, the hub on loopback plain
// HTTP), and `lp` of a PDF as a user reaches the hub, held for that user.
// How the credentials reach the hub from CUPS: in the device URI
// (ipp://USER:SECRET@HUB/ipp/print), which CUPS's ipp backend sends as
// HTTP Basic when the hub answers 401; the secret is the user's hub
// password here. lp -o raw sends the PDF through without a filter, so the
// document the agent releases to ippeveprinter is byte-identical to the
// one printed.
func TestCloudPrintCUPS(t *testing.T) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	cups := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	lp := testenv.Require(t, "lp")
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "alice", cardNum)
	const password = "cloud print secret 1"
	body := bytes.NewReader([]byte(`{"password":"` + password + `"}`))
	if code := h.admin(t, "PUT", "/api/v1/users/alice", body, "application/json", nil); code != http.StatusOK {
		t.Fatalf("set alice's password: HTTP %d", code)
	}
	doc := readDocument(t)

	device := (&url.URL{Scheme: "ipp", User: url.UserPassword("alice", password), Host: h.addr, Path: "/ipp/print"}).String()
	cups.AddQueue(t, "cloud", device, "-m", "everywhere")
	out, err := exec.Command(lp, "-h", cups.Addr, "-d", "cloud", "-U", "alice", "-o", "raw", "-t", "cloud-report", document).CombinedOutput()
	if err != nil {
		t.Fatalf("lp: %v: %s", err, out)
	}
	var jobID string
	testutil.WaitErr(t, 30*time.Second, "the job held at the hub for alice", func() error {
		var list struct{ Jobs []hubJob }
		h.admin(t, "GET", "/api/v1/jobs?owner=alice", nil, "", &list)
		if len(list.Jobs) != 1 || list.Jobs[0].State != "held" || list.Jobs[0].Pages != 3 {
			return fmt.Errorf("%+v", list.Jobs)
		}
		jobID = list.Jobs[0].ID
		return nil
	})

	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "")
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	a.swipe(t, rawCard)
	id := "hub:" + jobID
	a.waitSession(t, "alice logged in with her cloud job", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != "alice" || jobState(v, id) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	var kept []string
	testutil.WaitErr(t, 10*time.Second, "kept by the printer", func() error {
		kept, _ = filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
		if len(kept) != 1 {
			return fmt.Errorf("%v", kept)
		}
		return nil
	})
	if got, _ := os.ReadFile(kept[0]); !bytes.Equal(got, doc) {
		t.Fatal("the printed document differs from the one lp sent")
	}
	testutil.WaitErr(t, 15*time.Second, "one record at the hub", func() error {
		if recs := h.records(t, "alice"); len(recs) != 1 || recs[0].JobID != jobID || recs[0].Pages != 3 {
			return fmt.Errorf("%+v", recs)
		}
		return nil
	})
}
