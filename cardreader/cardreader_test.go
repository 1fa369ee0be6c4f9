package cardreader_test

import (
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
)

func TestDebouncer(t *testing.T) {
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	type step struct {
		after  time.Duration // since start
		value  string
		reader string
		want   bool
	}
	tests := []struct {
		name   string
		window time.Duration
		steps  []step
	}{
		{"same card twice within window", 0, []step{
			{0, "A", "r1", true},
			{1999 * time.Millisecond, "A", "r1", false},
		}},
		{"same card at exactly the window", 0, []step{
			{0, "A", "r1", true},
			{2 * time.Second, "A", "r1", true},
		}},
		{"window counts from the last accepted read, not the last dropped", 0, []step{
			{0, "A", "r1", true},
			{1500 * time.Millisecond, "A", "r1", false},
			{2100 * time.Millisecond, "A", "r1", true},
		}},
		{"same card from another reader", 0, []step{
			{0, "A", "r1", true},
			{100 * time.Millisecond, "A", "r2", false},
		}},
		{"different cards", 0, []step{
			{0, "A", "r1", true},
			{10 * time.Millisecond, "B", "r1", true},
			{20 * time.Millisecond, "A", "r1", false},
		}},
		{"custom window", 500 * time.Millisecond, []step{
			{0, "A", "r1", true},
			{400 * time.Millisecond, "A", "r1", false},
			{500 * time.Millisecond, "A", "r1", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			d := cardreader.NewDebouncer(tt.window, func() time.Time { return now })
			for i, s := range tt.steps {
				now = start.Add(s.after)
				got := d.Accept(cardreader.Read{Value: s.value, Reader: s.reader, At: now})
				if got != s.want {
					t.Errorf("step %d (%s at %v): Accept = %v, want %v", i, s.value, s.after, got, s.want)
				}
			}
		})
	}
}

func TestDebouncerDefaultWindow(t *testing.T) {
	if w := cardreader.NewDebouncer(0, nil).Window(); w != 2*time.Second {
		t.Fatalf("default window = %v, want 2s", w)
	}
}

func TestMasked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2490285352", "••••••5352"},
		{"946EBD28", "••••BD28"},
		{"12345", "•2345"},
		{"1234", "••••"},
		{"12", "••"},
		{"", ""},
		{"ünïcødé!", "••••ødé!"},
	}
	for _, tt := range tests {
		if got := cardreader.Masked(tt.in); got != tt.want {
			t.Errorf("Masked(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkDebouncerAccept(b *testing.B) {
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	d := cardreader.NewDebouncer(0, func() time.Time { return now })
	values := []string{"946EBD28", "1000AB", "21A6616", "DEADBEEF"}
	for i := 0; b.Loop(); i++ {
		now = now.Add(300 * time.Millisecond)
		d.Accept(cardreader.Read{Value: values[i%len(values)]})
	}
}
