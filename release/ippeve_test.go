package release

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
)

// damagedSource holds one job whose document has the announced length but
// fails its check only with its last bytes, as a hub download whose sha256
// differs did.
type damagedSource struct{ doc []byte }

func (s damagedSource) Name() string { return "hub" }
func (s damagedSource) List(ctx context.Context, username string) ([]Held, error) {
	return []Held{{ID: "7", Name: "a.pdf", Owner: "alice", Pages: 3, Copies: 1, Format: "application/pdf",
		Size: int64(len(s.doc))}}, nil
}
func (s damagedSource) Open(ctx context.Context, id, username string) (*Document, error) {
	return &Document{Body: io.NopCloser(&testutil.DamagedReader{Doc: s.doc}), Size: int64(len(s.doc)), Format: "application/pdf"}, nil
}
func (s damagedSource) Printed(ctx context.Context, id, username string, keep bool) error { return nil }
func (s damagedSource) Delete(ctx context.Context, id, username string) error             { return nil }

// TestDamagedDocumentOnIPPEveprinter: a document of the right length with
// the wrong bytes, released to a real ippeveprinter, is neither printed nor
// charged: the job fails with the reason and stays held (issue 8, point 5).
func TestDamagedDocumentOnIPPEveprinter(t *testing.T) {
	e := testenv.StartIPPEveprinter(t)
	client, err := ipp.New(e.URI, ipp.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "pdfpages", "testdata", "gs-3-pages.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	engine := New(Config{Sources: []Source{damagedSource{doc: doc}}, Printer: client, Journal: store,
		Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute})
	jobs, err := engine.Jobs(ctx, Who{Username: "alice"}, false)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %v, %v", jobs, err)
	}
	if err := engine.Start(ctx, Who{Username: "alice"}, jobs[0], Options{}); err != nil {
		t.Fatal(err)
	}
	engine.Wait()

	c, _, err := store.Get(ctx, "hub:7")
	if err != nil || c.State != offline.StateFailed || c.Reason != msgDamaged {
		t.Errorf("journal %s %q (%v), want failed, %q", c.State, c.Reason, err, msgDamaged)
	}
	if recs, _ := store.RecordsForJob(ctx, "hub:7"); len(recs) != 0 {
		t.Errorf("the damaged job was charged: %+v", recs)
	}
	if jobs, _ := engine.Jobs(ctx, Who{Username: "alice"}, false); len(jobs) != 1 || jobs[0].State != StateHeld {
		t.Errorf("listed %+v, want held", jobs)
	}
	st, found, err := client.FindJob(ctx, c.PrinterJobName, "alice")
	if err != nil || (found && st.State == "completed") {
		t.Errorf("the printer's job: %+v, %v, %v; want none, or not completed", st, found, err)
	}
}
