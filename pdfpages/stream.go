package pdfpages

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

var errTooLarge = errors.New("decoded stream exceeds the limit")

// streamData returns the decoded data of the stream whose dictionary is sd
// and whose raw data starts at file offset at. At most limit decoded bytes
// are produced (and charged to the document's budget); more is an error,
// which is what stops decompression bombs.
func (d *document) streamData(id ref, sd dict, at int64, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	parms, err := d.decodeTo(&buf, id, sd, at, limit)
	if err != nil {
		return nil, err
	}
	return unpredict(d, buf.Bytes(), parms)
}

// decodeTo writes the decoded stream to w, except for the predictor, whose
// parameters it returns (nil when there are none). id is the stream's
// object, whose number and generation decrypt it in an encrypted file;
// num -1 means the stream is not encrypted.
func (d *document) decodeTo(w io.Writer, id ref, sd dict, at int64, limit int64) (dict, error) {
	limit = min(limit, d.budget)
	n, err := d.streamLength(sd, at)
	if err != nil {
		return nil, err
	}
	var raw io.Reader = io.NewSectionReader(d.r, at, n)
	if id.num >= 0 && d.encrypted() {
		if n > maxStreamDecoded {
			return nil, errTooLarge
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(raw, data); err != nil {
			return nil, fmt.Errorf("read stream: %w", err)
		}
		if data, err = d.decrypt(id, data); err != nil {
			return nil, err
		}
		raw = bytes.NewReader(data)
	}
	filters, parms, err := filterChain(d, sd)
	if err != nil {
		return nil, err
	}
	src := raw
	switch {
	case len(filters) == 0:
		parms = []dict{nil}
	case len(filters) > 1:
		return nil, fmt.Errorf("unsupported filter chain of %d filters", len(filters))
	case filters[0] != "FlateDecode" && filters[0] != "Fl":
		return nil, fmt.Errorf("unsupported stream filter %q", filters[0])
	default:
		var head [2]byte
		k, _ := io.ReadFull(raw, head[:])
		raw = io.MultiReader(bytes.NewReader(head[:k]), raw)
		var zr io.ReadCloser
		if k == 2 && head[0]&0x0f == 8 && (int(head[0])<<8|int(head[1]))%31 == 0 {
			if zr, err = zlib.NewReader(raw); err != nil {
				return nil, fmt.Errorf("decode stream: %w", err)
			}
		} else {
			// Some writers emit raw deflate data without the zlib header.
			zr = flate.NewReader(raw)
		}
		defer zr.Close()
		src = zr
	}
	written, err := io.Copy(w, io.LimitReader(src, limit+1))
	d.budget -= written
	if written > limit {
		return nil, errTooLarge
	}
	// A truncated or corrupt tail after good data is accepted: the data
	// before it is what other readers show too.
	if err != nil && written == 0 {
		return nil, fmt.Errorf("decode stream: %w", err)
	}
	return parms[0], nil
}

// streamLength returns /Length when it is believable, otherwise the
// distance to the next "endstream", as tolerant readers do.
func (d *document) streamLength(sd dict, at int64) (int64, error) {
	if l, err := d.resolve(sd["Length"], 0); err == nil {
		if n, ok := asInt(l); ok && n >= 0 && n <= d.size-at {
			return n, nil
		}
	}
	end, err := d.find(at, []byte("endstream"), maxStreamScan)
	if err != nil {
		return 0, fmt.Errorf("stream without a usable /Length: %w", err)
	}
	n := end - at
	// The end-of-line before "endstream" is not part of the data.
	if n > 0 {
		var tail [2]byte
		k := int64(2)
		if n < 2 {
			k = 1
		}
		if _, err := d.readAt(tail[:k], end-k); err == nil {
			if k == 2 && tail[0] == '\r' && tail[1] == '\n' {
				n -= 2
			} else if c := tail[k-1]; c == '\n' || c == '\r' {
				n--
			}
		}
	}
	return n, nil
}

// filterChain returns the stream's filter names and their parameter
// dictionaries (nil where absent).
func filterChain(d *document, sd dict) ([]name, []dict, error) {
	f, err := d.resolve(sd["Filter"], 0)
	if err != nil {
		return nil, nil, err
	}
	var names []name
	switch v := f.(type) {
	case nil, null:
	case name:
		names = []name{v}
	case array:
		for _, e := range v {
			n, ok := e.(name)
			if !ok {
				return nil, nil, errors.New("malformed /Filter")
			}
			names = append(names, n)
		}
	default:
		return nil, nil, errors.New("malformed /Filter")
	}
	parms := make([]dict, len(names))
	p, err := d.resolve(sd["DecodeParms"], 0)
	if err != nil {
		return nil, nil, err
	}
	switch v := p.(type) {
	case dict:
		if len(parms) > 0 {
			parms[0] = v
		}
	case array:
		for i := 0; i < len(v) && i < len(parms); i++ {
			parms[i], _ = v[i].(dict)
		}
	}
	return names, parms, nil
}

// unpredict undoes a PNG predictor (the only kind cross-reference streams
// use in practice). The output is never larger than the input.
func unpredict(d *document, data []byte, parms dict) ([]byte, error) {
	if parms == nil {
		return data, nil
	}
	intParm := func(key name, def int64) int64 {
		v, err := d.resolve(parms[key], 0)
		if err != nil {
			return def
		}
		if n, ok := asInt(v); ok {
			return n
		}
		return def
	}
	pred := intParm("Predictor", 1)
	if pred <= 1 {
		return data, nil
	}
	if pred < 10 {
		return nil, fmt.Errorf("unsupported predictor %d", pred)
	}
	colors, bpc, cols := intParm("Colors", 1), intParm("BitsPerComponent", 8), intParm("Columns", 1)
	if colors < 1 || colors > 32 || bpc < 1 || bpc > 16 || cols < 1 || cols > 1<<20 {
		return nil, errors.New("bad predictor parameters")
	}
	bpp := int((colors*bpc + 7) / 8)
	rowLen := int((colors*bpc*cols + 7) / 8)
	out := data[:0] // in place: each output row is shorter than its input row
	prev := make([]byte, rowLen)
	for len(data) >= rowLen+1 {
		ft, row := data[0], data[1:rowLen+1]
		for i := range row {
			var left, upLeft byte
			if i >= bpp {
				left, upLeft = row[i-bpp], prev[i-bpp]
			}
			up := prev[i]
			switch ft {
			case 0:
			case 1:
				row[i] += left
			case 2:
				row[i] += up
			case 3:
				row[i] += byte((int(left) + int(up)) / 2)
			case 4:
				row[i] += paeth(left, up, upLeft)
			default:
				return nil, fmt.Errorf("bad PNG filter type %d", ft)
			}
		}
		copy(prev, row)
		out = append(out, row...)
		data = data[rowLen+1:]
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
