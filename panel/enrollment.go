package panel

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/tessera-print/tessera/session"
)

// While the agent is not enrolled at the hub, the idle screen shows its
// claim code and a QR code of the hub's claim page for it, drawn here as
// SVG from the code's bitmap: nothing leaves the agent and the page's
// policy (img-src 'self') needs no exception.

// claimURL is the hub's claim page of an enrollment's code.
func claimURL(e session.Enrollment) string {
	return strings.TrimSuffix(e.Hub, "/") + "/claim?code=" + url.QueryEscape(e.Code)
}

// enrollmentQR answers GET /api/v1/enrollment-qr.svg: the QR code of the
// claim page, 404 once the agent is enrolled.
func (s *Server) enrollmentQR(w http.ResponseWriter, r *http.Request) {
	url := ""
	if e := s.sessions.View().Enrollment; e != nil {
		url = claimURL(*e)
	}
	s.writeQR(w, url, "This printer is registered.")
}

// writeQR answers with the QR code of url as SVG, never cached (the codes
// behind these addresses change), or 404 with missing when url is "".
func (s *Server) writeQR(w http.ResponseWriter, url, missing string) {
	if url == "" {
		writeError(w, http.StatusNotFound, "not-found", missing)
		return
	}
	svg, err := qrSVG(url)
	if err != nil {
		s.logger.Error("QR code", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "The QR code could not be drawn.")
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(svg))
}

// qrSVG draws text's QR code (medium error correction, its quiet zone
// included) as SVG: one dark path, a run of modules per subpath.
func qrSVG(text string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	bm := q.Bitmap()
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
