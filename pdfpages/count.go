package pdfpages

import (
	"bytes"
	"errors"
	"io"
	"regexp"
)

// ErrNotPDF is returned for input that does not start like a PDF.
var ErrNotPDF = errors.New("not a PDF document")

var pageRe = regexp.MustCompile(`/Type\s*/Page\b`)

// Count returns the number of pages of the PDF read from r (size bytes).
// Placeholder implementation: counts page objects in the clear.
func Count(r io.ReaderAt, size int64) (int, error) {
	data, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return 0, ErrNotPDF
	}
	return len(pageRe.FindAll(data, -1)), nil
}
