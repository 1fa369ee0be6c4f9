package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// The objects of the printer snmpd plays (RFC 2790 Host Resources and RFC
// 3805 Printer-MIB, numeric: the test machine has no MIB files).
const (
	oidHrDeviceType     = "1.3.6.1.2.1.25.3.2.1.2.1"
	oidHrDeviceDescr    = "1.3.6.1.2.1.25.3.2.1.3.1"
	oidHrDeviceStatus   = "1.3.6.1.2.1.25.3.2.1.5.1"
	oidHrPrinterStatus  = "1.3.6.1.2.1.25.3.5.1.1.1"
	oidHrPrinterErrors  = "1.3.6.1.2.1.25.3.5.1.2.1" // hrPrinterDetectedErrorState
	oidPrtSerial        = "1.3.6.1.2.1.43.5.1.1.17.1"
	oidPrtMarkerLifeCnt = "1.3.6.1.2.1.43.10.2.1.4.1.1"
)

// TestBlockingReasonKeepsJobHeld: the printer says over SNMP that it cannot
// print (a paper jam: hrDeviceStatus down, the "jammed" bit of
// hrPrinterDetectedErrorState). A release is refused by the pre-release
// check before any document is sent: the person reads why in words,
// nothing reaches ippeveprinter and nothing is charged. Once the jam is
// cleared, the same job releases and prints once.
func TestBlockingReasonKeepsJobHeld(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	snmpd := testenv.StartSNMPD(t, testenv.SNMPDOptions{Values: map[string]string{
		oidHrDeviceType:     "objectid .1.3.6.1.2.1.25.3.1.5",
		oidHrDeviceDescr:    "string Test Laser 1000",
		oidHrDeviceStatus:   "integer 5", // down
		oidHrPrinterStatus:  "integer 1", // other
		oidHrPrinterErrors:  "octet 04 00",
		oidPrtSerial:        "string TL1000-0042",
		oidPrtMarkerLifeCnt: "counter 1000",
	}})
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "erin", cardNum)
	doc := readDocument(t)
	jobID := h.upload(t, "erin", "jammed.pdf", doc)
	id := "hub:" + jobID

	agentDir := t.TempDir()
	// The snmpd pass script forks a shell per object: generous timeouts.
	snmpURL := fmt.Sprintf("snmp://%s@%s?version=2c&timeout=10s&retries=1", testenv.SNMPDCommunity, snmpd.Addr)
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "", "--snmp", snmpURL)
	testutil.WaitErr(t, 30*time.Second, "the jam on the panel", func() error {
		p := a.printer(t)
		if p.CanPrint || !slices.Contains(p.Reasons, "media-jam") || p.Serial != "TL1000-0042" {
			return fmt.Errorf("%+v", p)
		}
		return nil
	})
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	a.swipe(t, rawCard)
	a.waitSession(t, "erin logged in with her job", func(v sessionView) error {
		if v.State != "active" || jobState(v, id) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})

	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	// "failed" with a reason: the job stays held and can be released
	// again (docs/panel-api.md).
	var refused sessionJob
	a.waitSession(t, "release refused with a reason", func(v sessionView) error {
		for _, j := range v.Jobs {
			if j.ID == id && j.State == "failed" {
				refused = j
				return nil
			}
		}
		return fmt.Errorf("%+v", v.Jobs)
	})
	if !strings.Contains(strings.ToLower(refused.Reason), "paper jam") {
		t.Errorf("reason %q does not name the paper jam", refused.Reason)
	}
	if kept, _ := filepath.Glob(filepath.Join(printer.Spool, "*")); len(kept) != 0 {
		t.Fatalf("the jammed printer received %v", kept)
	}
	if recs := h.records(t, "erin"); len(recs) != 0 {
		t.Fatalf("hub records after a refused release: %+v, want none", recs)
	}
	if j := h.job(t, "erin", jobID); j.State != "held" && j.State != "failed" {
		t.Fatalf("hub job state %q, want it still releasable", j.State)
	}

	// The jam is cleared: the pre-release check reads the printer afresh,
	// so the same job now prints, once.
	snmpd.Set(t, oidHrDeviceStatus, "integer 2")  // running
	snmpd.Set(t, oidHrPrinterStatus, "integer 3") // idle
	snmpd.Set(t, oidHrPrinterErrors, "octet 00 00")
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release after the jam: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printed after the jam", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("job state %q", s)
		}
		return nil
	})
	checkKeptOnce(t, printer, doc)
	testutil.WaitErr(t, 15*time.Second, "one record at the hub", func() error {
		recs := h.records(t, "erin")
		if len(recs) != 1 || recs[0].JobID != jobID || recs[0].Pages != 3 {
			return fmt.Errorf("%+v", recs)
		}
		return nil
	})

	a.kill(syscall.SIGTERM)
	store := openLedger(t, agentDir)
	if recs, err := store.RecordsForJob(context.Background(), id); err != nil || len(recs) != 1 {
		t.Fatalf("agent ledger for %s: %+v %v, want the one record of the print after the jam", id, recs, err)
	}
}
