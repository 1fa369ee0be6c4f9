package ippserver

import (
	"io"
	"net/http"
	"time"
)

// StallReader reads a request's body and keeps the connection's read
// deadline stall ahead of the latest read: a client that sends nothing
// for stall (a stalled Print-Job) gets a read error and frees the
// handler, while a large document on a slow link is read whole, however
// long it takes in all. The deadline moves at most every stall/8, so it
// cuts after between 7/8 of stall and stall of silence. A
// ResponseController that cannot set deadlines (a test recorder) leaves
// the body as it is.
//
// Deadlines are real time (net.Conn's), taken from time.Now, whose
// monotonic reading a wall-clock step does not move.
func StallReader(rc *http.ResponseController, body io.Reader, stall time.Duration) io.Reader {
	return &stallReader{rc: rc, body: body, stall: stall}
}

type stallReader struct {
	rc    *http.ResponseController
	body  io.Reader
	stall time.Duration
	set   time.Time // when the deadline was last moved
	off   bool      // deadlines are not supported
}

func (s *stallReader) Read(p []byte) (int, error) {
	if !s.off {
		if now := time.Now(); s.set.IsZero() || now.Sub(s.set) >= s.stall/8 {
			if err := s.rc.SetReadDeadline(now.Add(s.stall)); err != nil {
				s.off = true
			}
			s.set = now
		}
	}
	return s.body.Read(p)
}
