package pdfpages

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The page counts of testdata, as pdfinfo (poppler 22.12) reports them;
// testdata/SOURCES.md says where each file comes from.
var testFiles = []struct {
	file  string
	pages int
	scan  int   // what the last-resort scan alone finds
	err   error // what Count returns instead of pages
}{
	{"cups-classified.pdf", 1, 1, nil},
	{"cups-default.pdf", 1, 1, nil},
	{"cups-default-testpage.pdf", 1, 1, nil},
	{"gs-3-pages.pdf", 3, 3, nil},
	{"gs-12-pages.pdf", 12, 12, nil},
	{"gs-150-pages.pdf", 150, 150, nil},
	{"shared-mime-info-spec.pdf", 17, 17, nil},
	{"libtasn1.pdf", 36, 36, nil},
	// pdfunite leaves the first file's original page objects in, unused:
	// the scan counts them again, which is why the page tree comes first.
	{"unite-20.pdf", 20, 37, nil},
	{"qpdf-objstm-12.pdf", 12, 12, nil},
	{"qpdf-linearized-150.pdf", 150, 150, nil},
	// Encrypted with an empty user password (restrictions only). The
	// scan alone, without the trailer, cannot decrypt object streams.
	{"qpdf-aes256-3.pdf", 3, 3, nil},
	{"qpdf-rc4-40-objstm-12.pdf", 12, 0, nil},
	{"qpdf-rc4-128-objstm-12.pdf", 12, 0, nil},
	{"qpdf-aes128-objstm-12.pdf", 12, 0, nil},
	{"qpdf-aes256-objstm-12.pdf", 12, 0, nil},
	// A user password: page dictionaries in the clear still count, those
	// in object streams cannot be read.
	{"qpdf-rc4-128-userpw-3.pdf", 3, 3, nil},
	{"qpdf-aes256-userpw-3.pdf", 0, 0, ErrEncrypted},
}

func readTestFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCountRealFiles(t *testing.T) {
	for _, tc := range testFiles {
		t.Run(tc.file, func(t *testing.T) {
			b := readTestFile(t, tc.file)
			n, err := Count(bytes.NewReader(b), int64(len(b)))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Count = %d, %v; want %v", n, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Count: %v", err)
			}
			if n != tc.pages {
				t.Fatalf("Count = %d, want %d", n, tc.pages)
			}
		})
	}
}

// Each strategy alone must get the real files right, or a broken file
// would silently get a wrong count from the fallback.
func TestStrategiesAgree(t *testing.T) {
	for _, tc := range testFiles {
		t.Run(tc.file, func(t *testing.T) {
			b := readTestFile(t, tc.file)
			d := &document{r: bytes.NewReader(b), size: int64(len(b)), objstms: map[int]*objStm{}, budget: maxBudget, work: maxWork}
			if err := d.loadXref(); err != nil {
				t.Fatal(err)
			}
			root, _ := d.resolve(d.trailer["Root"], 0)
			n, err := d.walk(root.(dict)["Pages"])
			if (err != nil || n != tc.pages) && tc.pages != 0 {
				t.Errorf("walk = %d, %v; want %d", n, err, tc.pages)
			}
			d = &document{r: bytes.NewReader(b), size: int64(len(b)), objstms: map[int]*objStm{}, budget: maxScanBudget, work: maxWork}
			n, err = d.scan()
			if err != nil || n != tc.scan {
				t.Errorf("scan = %d, %v; want %d", n, err, tc.scan)
			}
		})
	}
}
