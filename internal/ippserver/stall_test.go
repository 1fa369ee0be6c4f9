package ippserver

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStallReaderCutsASilentBody: a body that stops sending is cut once
// the stall time passes without a byte, while one that keeps sending is
// read whole, however long it takes in all.
func TestStallReaderCutsASilentBody(t *testing.T) {
	const stall = time.Second
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, StallReader(http.NewResponseController(w), r.Body, stall))
		if err == nil && n != 10 {
			err = errors.New("short body")
		}
		got <- err
	}))
	defer srv.Close()
	send := func(parts ...string) error {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if p == "" {
				break // stall: send nothing more
			}
			// The client's pace, not a wait for the server: each part
			// comes well within the stall time of the one before, and
			// the body as a whole takes longer than it.
			if _, err := conn.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(stall / 6)
		}
		select {
		case err := <-got:
			return err
		case <-time.After(10 * time.Second): // a guard against a hang, not a measure
			t.Fatal("the handler is still reading a stalled body")
			return nil
		}
	}
	if err := send(strings.Split("0123456789", "")...); err != nil {
		t.Errorf("a body sent in ten slow parts: %v", err)
	}
	if err := send("0123", ""); err == nil {
		t.Errorf("a stalled body was read without an error")
	}
}
