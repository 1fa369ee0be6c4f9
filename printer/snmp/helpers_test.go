package snmp

import (
	"errors"
	"log/slog"
	"testing"
)

// testLogger logs into the test's own output, at debug level.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func isNoAnswer(err error) bool { return errors.Is(err, ErrNoAnswer) }
