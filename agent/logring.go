package agent

import (
	"bytes"
	"log/slog"
	"sync"
)

// The technician menu shows the agent's last log lines: logRingLines of
// them, each cut at logRingLineMax bytes, so the ring stays bounded however
// much or however long the agent logs. It records only what the agent logs,
// which never carries a secret (PINs, passwords, tokens stay out of logs).
const (
	logRingLines   = 200
	logRingLineMax = 512
)

// logRing keeps the last lines written to it; it is an io.Writer for a
// slog.TextHandler (one Write per record).
type logRing struct {
	mu    sync.Mutex
	lines []string // circular once full
	next  int      // where the next line goes once full
	size  int
}

func newLogRing(size int) *logRing { return &logRing{size: size} }

// Write keeps each line of p; it never fails.
func (l *logRing) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		if len(line) > logRingLineMax {
			line = append(line[:logRingLineMax:logRingLineMax], "…"...)
		}
		l.add(string(line))
	}
	return len(p), nil
}

func (l *logRing) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < l.size {
		l.lines = append(l.lines, line)
		return
	}
	l.lines[l.next] = line
	l.next = (l.next + 1) % l.size
}

// Lines returns the kept lines, oldest first.
func (l *logRing) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.lines))
	out = append(out, l.lines[l.next:]...)
	return append(out, l.lines[:l.next]...)
}

// handler is the ring's slog handler (Info and above: debug lines would
// push the useful ones out).
func (l *logRing) handler() slog.Handler {
	return slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo})
}

// tee logs to next and to the ring.
func (l *logRing) tee(next slog.Handler) slog.Handler {
	return slog.NewMultiHandler(next, l.handler())
}
