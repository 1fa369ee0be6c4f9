package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/virtual"
)

// slowPrinter is the built-in virtual printer with a print time long enough
// to kill things while a job is on it.
func slowPrinter(t *testing.T) (*virtual.Printer, string) {
	t.Helper()
	vp, err := virtual.New(virtual.Config{Dir: t.TempDir(), Name: "slow", PrintDelay: 3 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: vp.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return vp, "ipp://" + ln.Addr().String() + "/ipp/print"
}

// TestRestartBeforeAcknowledgement: the agent crashes while a job prints or
// before the hub acknowledged its record; after a restart nothing prints
// twice and the record reaches the hub exactly once.
func TestRestartBeforeAcknowledgement(t *testing.T) {
	for _, tc := range []struct {
		name string
		// crash runs while the job is on the printer and leaves the agent dead.
		crash func(t *testing.T, a *agent, h *hub, id string) *hub
	}{
		{
			// SIGKILL while the printer prints: the restarted agent finds the
			// job on the printer by its name and follows it instead of resending.
			name: "killed while printing",
			crash: func(t *testing.T, a *agent, h *hub, id string) *hub {
				a.kill(syscall.SIGKILL)
				return h
			},
		},
		{
			// The hub goes away, the job completes and is recorded locally,
			// then the agent dies before any acknowledgement.
			name: "killed after printing, before the hub acknowledged",
			crash: func(t *testing.T, a *agent, h *hub, id string) *hub {
				h.kill(syscall.SIGKILL)
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
			vp, printerURI := slowPrinter(t)
			h := startHub(t, bin, t.TempDir(), "")
			h.createUser(t, "bob", cardNum)
			doc, err := os.ReadFile(document)
			if err != nil {
				t.Fatal(err)
			}
			jobID := h.upload(t, "bob", "slow.pdf", doc)
			id := "hub:" + jobID
			agentDir := t.TempDir()
			a := startAgent(t, bin, agentDir, h.url, printerURI, "", "")
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

			h = tc.crash(t, a, h, id)
			a2 := startAgent(t, bin, agentDir, h.url, printerURI, "", "")
			eventually(t, "hub holds the record once and the job printed", 30*time.Second, func() error {
				j := h.job(t, "bob", jobID)
				recs := h.records(t, "bob")
				if j.State != "printed" || len(recs) != 1 || recs[0].Pages != 3 {
					return fmt.Errorf("job %+v records %+v", j, recs)
				}
				return nil
			})
			if n := len(vp.Jobs()); n != 1 {
				t.Fatalf("printer received %d jobs, want 1", n)
			}
			a2.kill(syscall.SIGTERM)
			store, err := offline.Open(context.Background(), filepath.Join(agentDir, "tessera.db"),
				offline.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			recs, err := store.RecordsForJob(context.Background(), id)
			if err != nil || len(recs) != 1 {
				t.Fatalf("agent ledger for %s: %+v %v, want one record", id, recs, err)
			}
		})
	}
}
