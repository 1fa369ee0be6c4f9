package offline

import (
	"context"
	"strings"
	"testing"
)

// A job the printer lists is the agent's by its name's start, or, when
// the printer hides names, by the printer job id the journal recorded.
func TestOwnPrinterJob(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c, err := s.Claim(ctx, "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.PrinterJobName, printerJobPrefix) {
		t.Fatalf("printer job name %q does not begin with %q", c.PrinterJobName, printerJobPrefix)
	}
	if err := s.MarkSending(ctx, "hub:7", Settings{Pages: 1, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPrinting(ctx, "hub:7", 314); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   int
		own  bool
	}{
		{c.PrinterJobName, 314, true},
		{"tessera-hub-7-1", 900, true}, // an earlier attempt, or a shortened name
		{"report.pdf", 314, false},     // another job took the id after a restart
		{"", 314, true},
		{"", 315, false},
	} {
		own, err := s.OwnPrinterJob(ctx, tc.name, tc.id)
		if err != nil || own != tc.own {
			t.Errorf("OwnPrinterJob(%q, %d) = %v, %v; want %v", tc.name, tc.id, own, err, tc.own)
		}
	}
}
