package cupssource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/release"
)

// fakeClaimer answers Claim with err, else with "claim:" + key.
type fakeClaimer struct {
	err  error
	mu   sync.Mutex
	keys []string
}

func (c *fakeClaimer) Claim(_ context.Context, key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, key)
	if c.err != nil {
		return "", c.err
	}
	return "claim:" + key, nil
}

// A job is claimed across agents before its document is handed to the
// release, and last, once the document is open: a job another agent
// holds, or one that cannot be claimed, is refused with words for the
// person (its document closed unread); a document that cannot be opened
// is never claimed (TestUnopenedDocumentLeavesNoClaim).
func TestOpenClaimsFirst(t *testing.T) {
	pdf := []byte("%PDF-1.4 tiny")
	tests := []struct {
		name       string
		claimErr   error
		docStatus  goipp.Status
		wantErr    error
		wantReason string
		wantClaim  bool
	}{
		{name: "claimed", wantClaim: true},
		{name: "held elsewhere", claimErr: fmt.Errorf("hub: %w", ErrClaimed), wantErr: ErrClaimed, wantReason: msgClaimed,
			wantClaim: true},
		{name: "hub unreachable", claimErr: errors.New("cloud unreachable"), wantErr: ErrNoClaim, wantReason: msgNoClaim,
			wantClaim: true},
		{name: "document gone", docStatus: goipp.StatusErrorNotFound, wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotDoc bool
			f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
				switch goipp.Op(req.Code) {
				case goipp.OpGetJobAttributes:
					a := jobAttrs("alice", "ipp://localhost:631/printers/heldq", 4)
					a.Add(goipp.MakeAttribute("time-at-creation", goipp.TagInteger, goipp.Integer(1700000000)))
					write(w, ippResponse(t, goipp.StatusOk, "", a))
				case goipp.OpCupsGetDocument:
					gotDoc = true
					if tt.docStatus != 0 {
						write(w, ippResponse(t, tt.docStatus, "gone"))
						return
					}
					var a goipp.Attributes
					a.Add(goipp.MakeAttribute("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
					attrs := ippResponse(t, goipp.StatusOk, "", a)
					w.Header().Set("Content-Length", strconv.Itoa(len(attrs)+len(pdf)))
					write(w, attrs, pdf)
				}
			})
			claimer := &fakeClaimer{err: tt.claimErr}
			src, err := New(Config{URL: f.url, Operator: "tessera", Claimer: claimer, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := src.Open(t.Context(), "4", "alice")
			wantKey := "cups:" + src.printerURI + "#4@1700000000"
			if tt.wantClaim && (len(claimer.keys) != 1 || claimer.keys[0] != wantKey) {
				t.Errorf("claimed %q, want [%s]", claimer.keys, wantKey)
			}
			if !tt.wantClaim && len(claimer.keys) != 0 {
				t.Errorf("claimed %q, want no claim", claimer.keys)
			}
			if !gotDoc {
				t.Error("document not asked for")
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(doc.Body)
				doc.Body.Close()
				if string(b) != string(pdf) || doc.Claim != "claim:"+wantKey {
					t.Errorf("document %q with claim %q", b, doc.Claim)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Open: %v, want %v", err, tt.wantErr)
			}
			var nr *release.NotReady
			if tt.wantReason != "" && (!errors.As(err, &nr) || nr.Reason != tt.wantReason) {
				t.Errorf("Open: %v, want the person told %q", err, tt.wantReason)
			}
		})
	}
}

// CUPS's job-uuid names a job whatever name each agent reaches the server by.
func TestClaimKeyPrefersJobUUID(t *testing.T) {
	s := &Source{printerURI: "ipp://a:631/printers/q"}
	var a goipp.Attributes
	a.Add(goipp.MakeAttribute("time-at-creation", goipp.TagInteger, goipp.Integer(5)))
	if got := s.claimKey(a, 3); got != "cups:ipp://a:631/printers/q#3@5" {
		t.Errorf("without uuid: %q", got)
	}
	a.Add(goipp.MakeAttribute("job-uuid", goipp.TagURI, goipp.String("urn:uuid:0b2f6d4e-1c9a-3f55-6a1e-9d2f0c7b8e41")))
	if got := s.claimKey(a, 3); got != "cups:urn:uuid:0b2f6d4e-1c9a-3f55-6a1e-9d2f0c7b8e41" {
		t.Errorf("with uuid: %q", got)
	}
}
