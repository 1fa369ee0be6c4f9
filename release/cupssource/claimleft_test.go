package cupssource

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/OpenPrinting/goipp"
)

// ledgerClaimer counts the claims it holds at the hub: each Claim takes
// one. (Before, a claim whose document then failed was released at once,
// which failed when the hub was lost just after the claim.)
type ledgerClaimer struct {
	mu   sync.Mutex
	held int
}

func (c *ledgerClaimer) Claim(context.Context, string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held++
	return "claim", nil
}

// A job whose document cannot be opened (CUPS lost it, or sends what is
// not a document) must leave no claim at the hub: no status of its
// attempt carries one to end it, so a claim left there would keep every
// other printer from the job for as long as this agent is heard from.
func TestUnopenedDocumentLeavesNoClaim(t *testing.T) {
	for _, tt := range []struct {
		name string
		doc  func(t *testing.T, w http.ResponseWriter)
	}{
		{"document gone", func(t *testing.T, w http.ResponseWriter) {
			write(w, ippResponse(t, goipp.StatusErrorNotFound, "gone"))
		}},
		{"Content-Length short", func(t *testing.T, w http.ResponseWriter) {
			attrs := ippResponse(t, goipp.StatusOk, "")
			w.Header().Set("Content-Length", strconv.Itoa(len(attrs)-1))
			write(w, attrs[:len(attrs)-1])
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
				switch goipp.Op(req.Code) {
				case goipp.OpGetJobAttributes:
					write(w, ippResponse(t, goipp.StatusOk, "", jobAttrs("alice", "ipp://localhost:631/printers/heldq", 4)))
				case goipp.OpCupsGetDocument:
					tt.doc(t, w)
				}
			})
			claimer := &ledgerClaimer{}
			src, err := New(Config{URL: f.url, Operator: "tessera", Claimer: claimer, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Open(t.Context(), "4", "alice"); err == nil {
				t.Fatal("Open succeeded")
			}
			claimer.mu.Lock()
			defer claimer.mu.Unlock()
			if claimer.held != 0 {
				t.Errorf("%d claims left at the hub for a job that could not be opened", claimer.held)
			}
		})
	}
}
