package ipp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestIPPEveprinter runs the client against the real ippeveprinter of
// CUPS (RECIPES §0): its engine script reports the page count as
// job-impressions-completed, and it keeps every document it received.
func TestIPPEveprinter(t *testing.T) {
	e := testenv.StartIPPEveprinter(t)
	c, err := New(e.URI, Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Supports("application/pdf") || info.Name != e.Name || info.State != "idle" || !info.AcceptingJobs {
		t.Fatalf("Info = %+v", info)
	}

	// Page counts as pdfinfo reports them (pdfpages/testdata/SOURCES.md).
	for _, tc := range []struct {
		file  string
		pages int
	}{{"gs-3-pages.pdf", 3}, {"gs-12-pages.pdf", 12}} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "pdfpages", "testdata", tc.file)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			name := "tessera-it-" + token()
			id, err := c.Print(ctx, Job{Name: name, User: "alice", Format: "application/pdf", Copies: 1,
				Sides: "one-sided", ColorMode: "monochrome", Size: int64(len(want)), Body: f})
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Wait(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != "completed" || !st.Terminal || st.Impressions != tc.pages || st.ID != id {
				t.Fatalf("Wait = %+v, want completed with %d impressions", st, tc.pages)
			}
			got, err := os.ReadFile(e.Kept(t, id))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the printer kept %d bytes that differ from the %d sent", len(got), len(want))
			}
			found, ok, err := c.FindJob(ctx, name, "alice")
			if err != nil || !ok || found.ID != id || found.State != "completed" {
				t.Fatalf("FindJob(%q) = %+v, %v, %v", name, found, ok, err)
			}
		})
	}

	if _, ok, err := c.FindJob(ctx, "tessera-it-no-such-job", "alice"); err != nil || ok {
		t.Fatalf("FindJob of an unknown name = %v, %v", ok, err)
	}

	// A format the printer does not take is refused before anything is sent.
	before := spoolFiles(t, e.Spool)
	_, err = c.Print(ctx, Job{Name: "tessera-it-ps", Format: "application/postscript", Size: 5, Body: strings.NewReader("%!PS\n")})
	if !errors.Is(err, ErrFormatUnsupported) {
		t.Fatalf("Print of PostScript = %v, want ErrFormatUnsupported", err)
	}
	if after := spoolFiles(t, e.Spool); !slices.Equal(before, after) {
		t.Fatalf("the printer received something: %v -> %v", before, after)
	}

	// A job id the printer never had.
	if _, err := c.Job(ctx, 999999); !errors.Is(err, ErrJobGone) {
		t.Fatalf("Job(999999) = %v, want ErrJobGone", err)
	}
}

// ippeveprinter also answers TLS on its port, with a self-signed
// certificate: the client must refuse it.
func TestIPPEveprinterSelfSignedTLS(t *testing.T) {
	e := testenv.StartIPPEveprinter(t)
	c, err := New(strings.Replace(e.URI, "ipp://", "ipps://", 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(t.Context())
	if err == nil {
		t.Fatal("Info over TLS with a self-signed certificate succeeded")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Info = %v, want a certificate error", err)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func token() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestIPPEveprinterDamagedDocument: a document whose source fails at its
// very end (a hash mismatch found at EOF) is cut off before the printer has
// all of it: Print fails with ErrDocument, and the printer neither keeps
// the whole document nor completes a job of it (issue 8, point 5).
func TestIPPEveprinterDamagedDocument(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "pdfpages", "testdata", "gs-3-pages.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		atProbe bool
	}{{"error with the last bytes", false}, {"error on the read after them", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.StartIPPEveprinter(t)
			c, err := New(e.URI, Options{PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			name := "tessera-it-" + token()
			_, err = c.Print(t.Context(), Job{Name: name, User: "alice", Format: "application/pdf",
				Size: int64(len(doc)), Body: &testutil.DamagedReader{Doc: doc, AtProbe: tc.atProbe}})
			if !errors.Is(err, ErrDocument) || !errors.Is(err, testutil.ErrDamaged) {
				t.Errorf("Print = %v, want ErrDocument with the source's error", err)
			}
			st, found, err := c.FindJob(t.Context(), name, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if found {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				if st, err = c.Wait(ctx, st.ID); err != nil || st.State == "completed" {
					t.Errorf("the printer's job of the damaged document: %+v, %v; want it ended, not completed", st, err)
				}
			}
			for _, f := range spoolFiles(t, e.Spool) {
				got, _ := os.ReadFile(filepath.Join(e.Spool, f))
				if strings.Contains(f, name) && bytes.Equal(got, doc) {
					t.Errorf("the printer kept the whole damaged document as %s", f)
				}
			}
		})
	}
}
