package panel

import "net/http"

// loginQR answers GET /api/v1/login-qr.svg: the QR code of the hub's
// sign-in page for the idle screen's QR login code (login mode qr), 404
// while there is none. Its query (?u=) only makes each new code a new
// address for the browser; what is drawn is always the session's code.
func (s *Server) loginQR(w http.ResponseWriter, r *http.Request) {
	url := ""
	if q := s.sessions.View().QR; q != nil {
		url = q.URL
	}
	s.writeQR(w, url, "No QR login code is shown.")
}
