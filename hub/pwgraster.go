package hub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PWG raster (PWG 5102.4), one of the formats IPP Everywhere requires:
// the sync word "RaS2", then per page a 1796-byte header and the page's
// lines, compressed. Its pages are counted by walking the compressed
// lines, since a page's length is written nowhere.

const (
	formatJPEG      = "image/jpeg"
	formatPWGRaster = "image/pwg-raster"

	pwgHeaderSize = 1796
	// Bounds on a page's geometry: well past any real printer (a 1 m
	// wide page at 2400 dpi is 94,500 pixels of 8 bytes at most).
	pwgMaxBytesPerLine = 1 << 20
	pwgMaxHeight       = 1 << 20
)

var errPWGMalformed = errors.New("malformed PWG raster")

// countPWGPages counts the pages of a PWG raster stream; errPWGMalformed
// (wrapped) when it is not one, or is cut short.
func countPWGPages(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var sync [4]byte
	if _, err := io.ReadFull(br, sync[:]); err != nil || string(sync[:]) != "RaS2" {
		return 0, fmt.Errorf("%w: no RaS2 sync word", errPWGMalformed)
	}
	header := make([]byte, pwgHeaderSize)
	for pages := 0; ; pages++ {
		if _, err := io.ReadFull(br, header); err == io.EOF {
			if pages == 0 {
				return 0, fmt.Errorf("%w: no page", errPWGMalformed)
			}
			return pages, nil
		} else if err != nil {
			return 0, pwgReadError(err, pages)
		}
		if pages >= maxJobPages {
			return 0, fmt.Errorf("%w: more than %d pages", errPWGMalformed, maxJobPages)
		}
		if err := skipPWGPage(br, header); err != nil {
			return 0, fmt.Errorf("page %d: %w", pages+1, err)
		}
	}
}

func pwgReadError(err error, page int) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: cut short in page %d", errPWGMalformed, page+1)
	}
	return fmt.Errorf("read PWG raster: %w", err)
}

// skipPWGPage reads past the compressed lines of the page header
// describes: each line group is a repeat count, then runs of pixels (a
// repeated pixel, literal pixels, or 0x80: white to the end of the line).
func skipPWGPage(br *bufio.Reader, header []byte) error {
	height := binary.BigEndian.Uint32(header[376:])
	bitsPerPixel := binary.BigEndian.Uint32(header[388:])
	bytesPerLine := binary.BigEndian.Uint32(header[392:])
	unit := (bitsPerPixel + 7) / 8
	if height == 0 || height > pwgMaxHeight || bytesPerLine == 0 || bytesPerLine > pwgMaxBytesPerLine ||
		unit == 0 || unit > 16 || bytesPerLine%unit != 0 {
		return fmt.Errorf("%w: bad page geometry", errPWGMalformed)
	}
	units := int(bytesPerLine / unit)
	for y := 0; y < int(height); {
		rep, err := br.ReadByte()
		if err != nil {
			return pwgReadError(err, 0)
		}
		y += int(rep) + 1
		for x := 0; x < units; {
			c, err := br.ReadByte()
			if err != nil {
				return pwgReadError(err, 0)
			}
			var n, skip int
			switch {
			case c == 0x80:
				n = units - x
			case c < 0x80:
				n, skip = int(c)+1, int(unit)
			default:
				n = 257 - int(c)
				skip = n * int(unit)
			}
			if x += n; x > units {
				return fmt.Errorf("%w: a line runs past its width", errPWGMalformed)
			}
			if _, err := br.Discard(skip); err != nil {
				return pwgReadError(err, 0)
			}
		}
		if y > int(height) {
			return fmt.Errorf("%w: lines past the page's height", errPWGMalformed)
		}
	}
	return nil
}
