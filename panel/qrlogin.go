package panel

import "net/http"

// loginQR answers GET /api/v1/login-qr.svg: the QR code of the hub's
// sign-in page for the idle screen's QR login code (login mode qr), 404
// while there is none. Its query (?u=) only makes each new code a new
// address for the browser; what is drawn is always the session's code.
func (s *Server) loginQR(w http.ResponseWriter, r *http.Request) {
	q := s.sessions.View().QR
	if q == nil {
		writeError(w, http.StatusNotFound, "not-found", "No QR login code is shown.")
		return
	}
	svg, err := qrSVG(q.URL)
	if err != nil {
		s.logger.Error("login QR code", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "The QR code could not be drawn.")
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	// A code works once, for two minutes: never a stale one.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(svg))
}
