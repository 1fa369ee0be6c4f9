package pjl

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
)

// TestSendRaw: the bytes reach the port exactly, without PJL around them.
func TestSendRaw(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(conn)
		conn.Close()
		got <- b
	}()
	body := make([]byte, 300<<10)
	rand.Read(body)
	c, err := New("socket://"+ln.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.SendRaw(context.Background(), bytes.NewReader(body))
	if err != nil || n != int64(len(body)) {
		t.Fatalf("SendRaw = %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, body) {
		t.Errorf("the port got %d bytes, not the %d sent", len(b), len(body))
	}
}
