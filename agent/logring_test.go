package agent

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// The ring keeps the last lines, oldest first, each bounded, with the
// attributes the agent's loggers add; debug lines are not kept.
func TestLogRing(t *testing.T) {
	tests := []struct {
		name  string
		log   func(*slog.Logger)
		want  []string // substrings of the kept lines, in order
		count int
	}{
		{"few", func(l *slog.Logger) { l.Info("one"); l.Warn("two", "k", "v") }, []string{"msg=one", "msg=two k=v"}, 2},
		{"wraps", func(l *slog.Logger) {
			for i := range 5 {
				l.Info(fmt.Sprint("line", i))
			}
		}, []string{"msg=line2", "msg=line3", "msg=line4"}, 3},
		{"with", func(l *slog.Logger) { l.With("component", "printer").Error("down") }, []string{"msg=down component=printer"}, 1},
		{"debug", func(l *slog.Logger) { l.Debug("noise") }, nil, 0},
		{"long", func(l *slog.Logger) { l.Info(strings.Repeat("x", 2000)) }, []string{"xxx…"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ring := newLogRing(3)
			tc.log(slog.New(ring.tee(slog.DiscardHandler)))
			got := ring.Lines()
			if len(got) != tc.count {
				t.Fatalf("%d lines %q, want %d", len(got), got, tc.count)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("line %d %q, want %q in it", i, got[i], w)
				}
				if len(got[i]) > logRingLineMax+len("…") {
					t.Errorf("line %d is %d bytes", i, len(got[i]))
				}
			}
		})
	}
}
