package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/tessera-print/tessera/internal/loopback"
)

// The profiling listener (--pprof-listen): Go's runtime profiles (heap,
// goroutines, CPU) on a loopback address of its own, for measuring the
// hub under a fleet (docs/benchmarks.md, Fleet). Off by default; never on
// the hub's own listener, and never off loopback: a profile shows what the
// hub holds.

// checkPprofListen refuses an address that is not loopback.
func checkPprofListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("serve: --pprof-listen %q: %w", addr, err)
	}
	if !loopback.Host(host) {
		return fmt.Errorf("serve: --pprof-listen %q: a loopback address only (127.0.0.1, ::1, localhost): profiles show what the hub holds", addr)
	}
	return nil
}

// servePprof serves the profiles on addr until ctx ends.
func servePprof(ctx context.Context, addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: --pprof-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	logger.Info("profiles served", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	go func() { _ = srv.Serve(ln) }()
	return nil
}
