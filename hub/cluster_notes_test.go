package hub

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Task notes carry as many lines as fit, every line once, in order.
func TestPackLines(t *testing.T) {
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("sim-abcdef-%06d %s", i, strings.Repeat("x", 26))
	}
	tests := []struct {
		name  string
		lines []string
		max   int
		notes int
	}{
		{"none", nil, 100, 0},
		{"one", []string{"a 1"}, 100, 1},
		{"exactly full", []string{"a 1", "b 2"}, 7, 1},
		{"one byte over", []string{"a 1", "b 2"}, 6, 2},
		{"longer than max alone", []string{strings.Repeat("z", 50), "b 2"}, 10, 2},
		{"a fleet", many, maxTaskNote, 7}, // 155 lines of 44 bytes a note
	}
	for _, tc := range tests {
		notes := packLines(tc.lines, tc.max)
		if len(notes) != tc.notes {
			t.Errorf("%s: %d notes, want %d", tc.name, len(notes), tc.notes)
		}
		var back []string
		for _, n := range notes {
			if len(n) > tc.max && !strings.Contains(n, strings.Repeat("z", 50)) {
				t.Errorf("%s: a note of %d bytes, max %d", tc.name, len(n), tc.max)
			}
			back = append(back, strings.Split(n, "\n")...)
		}
		if !slices.Equal(back, tc.lines) && len(tc.lines) > 0 {
			t.Errorf("%s: lines changed in the notes", tc.name)
		}
	}
}
