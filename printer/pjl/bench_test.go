package pjl

import (
	"context"
	"io"
	"net"
	"testing"
)

// patternReader yields n bytes of a fixed pattern without allocating, as
// a stand-in for a document streamed from the hub.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	// The caller's buffer is reused; whatever it holds is the pattern.
	r.left -= int64(len(p))
	return len(p), nil
}

// BenchmarkPrint100MiB streams 100 MiB through Print to a printer that
// discards the job and answers USTATUS JOB END once it has it all, next to
// a plain io.Copy of the same bytes over loopback TCP, the ceiling.
func BenchmarkPrint100MiB(b *testing.B) {
	const size = 100 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(io.Discard, conn)
				io.WriteString(conn, "@PJL USTATUS JOB\r\nEND\r\nNAME=\"bench\"\r\nPAGES=1\r\nRESULT=OK\r\n\f")
			}()
		}
	}()
	c, err := New("socket://"+ln.Addr().String(), Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("pjl", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Print(context.Background(), Job{Name: "bench", Size: size, Body: &patternReader{left: size}, Language: "PDF"})
			if err != nil || res.Pages != 1 {
				b.Fatalf("got %+v, %v", res, err)
			}
		}
	})
	b.Run("raw-tcp", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		buf := make([]byte, copyBufSize)
		for b.Loop() {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(struct{ io.Writer }{conn}, &patternReader{left: size}, buf); err != nil {
				b.Fatal(err)
			}
			conn.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, conn)
			conn.Close()
		}
	})
}
