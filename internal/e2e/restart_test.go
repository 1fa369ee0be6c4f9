package e2e

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestRestartBeforeAcknowledgement: the agent crashes while a job prints or
// before the hub acknowledged its record; after a restart nothing prints
// twice and the record reaches the hub exactly once.
func TestRestartBeforeAcknowledgement(t *testing.T) {
	for _, tc := range []struct {
		name string
		// crash runs while the job waits on the printer's shut gate and
		// leaves the agent dead; it returns the hub to use afterwards.
		crash func(t *testing.T, a *agent, h *hub, printer *testenv.IPPEve, id string) *hub
	}{
		{
			// SIGKILL while the job is on the printer: the restarted agent
			// finds the job there by its name, still processing (the gate
			// opens only after the restart), and follows it instead of
			// resending.
			name: "killed while printing",
			crash: func(t *testing.T, a *agent, h *hub, printer *testenv.IPPEve, id string) *hub {
				a.kill(syscall.SIGKILL)
				return h
			},
		},
		{
			// The hub goes away, the job completes and is recorded locally,
			// then the agent dies before any acknowledgement.
			name: "killed after printing, before the hub acknowledged",
			crash: func(t *testing.T, a *agent, h *hub, printer *testenv.IPPEve, id string) *hub {
				h.kill(syscall.SIGKILL)
				if err := printer.OpenGate(); err != nil {
					t.Fatal(err)
				}
				a.waitSession(t, "printed while the hub is down", func(v sessionView) error {
					if s := jobState(v, id); s != "printed" {
						return fmt.Errorf("job state %q", s)
					}
					return nil
				})
				a.kill(syscall.SIGKILL)
				return startHub(t, build(t), h.dir, h.addr)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := build(t)
			// The gate is shut: the released job stays processing on the
			// printer until the test opens it.
			printer := testenv.StartIPPEveprinterWith(t, testenv.IPPEveOptions{Command: testenv.GatedCommand})
			h := startHub(t, bin, t.TempDir(), "")
			h.createUser(t, "bob", cardNum)
			doc := readDocument(t)
			jobID := h.upload(t, "bob", "slow.pdf", doc)
			id := "hub:" + jobID
			agentDir := t.TempDir()
			a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
			a.waitSession(t, "online", func(v sessionView) error {
				if v.Cloud != "online" {
					return fmt.Errorf("cloud %q", v.Cloud)
				}
				return nil
			})
			a.swipe(t, rawCard)
			a.waitSession(t, "logged in", func(v sessionView) error {
				if jobState(v, id) != "held" {
					return fmt.Errorf("%+v", v)
				}
				return nil
			})
			if code, body := a.release(t, `{"all":true}`); code != http.StatusAccepted {
				t.Fatalf("release: HTTP %d %v", code, body)
			}
			a.waitSession(t, "printing", func(v sessionView) error {
				if s := jobState(v, id); s != "printing" {
					return fmt.Errorf("job state %q", s)
				}
				return nil
			})

			h = tc.crash(t, a, h, printer, id)
			a2 := startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
			if err := printer.OpenGate(); err != nil {
				t.Fatal(err)
			}
			testutil.WaitErr(t, 30*time.Second, "hub holds the record once and the job printed", func() error {
				j := h.job(t, "bob", jobID)
				recs := h.records(t, "bob")
				if j.State != "printed" || len(recs) != 1 || recs[0].Pages != 3 {
					return fmt.Errorf("job %+v records %+v", j, recs)
				}
				return nil
			})
			checkKeptOnce(t, printer, doc)
			a2.kill(syscall.SIGTERM)
			store := openLedger(t, agentDir)
			recs, err := store.RecordsForJob(context.Background(), id)
			if err != nil || len(recs) != 1 {
				t.Fatalf("agent ledger for %s: %+v %v, want one record", id, recs, err)
			}
		})
	}
}
