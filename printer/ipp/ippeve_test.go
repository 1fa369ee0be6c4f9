package ipp

import (
	"bytes"
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
