package protocol

import "testing"

func TestSheetsFor(t *testing.T) {
	tests := []struct {
		name                string
		impressions, copies int
		duplex              bool
		want                int
	}{
		{"nothing printed", 0, 1, false, 0},
		{"negative", -3, 1, true, 0},
		{"one-sided", 7, 1, false, 7},
		{"one-sided copies", 6, 3, false, 6},
		{"two-sided even", 4, 1, true, 2},
		{"two-sided odd", 5, 1, true, 3},
		{"two-sided odd, each copy rounds up", 6, 2, true, 4},
		{"two-sided cut short: one run", 5, 2, true, 3},
		{"copies unknown", 3, 0, true, 2},
	}
	for _, tt := range tests {
		if got := SheetsFor(tt.impressions, tt.copies, tt.duplex); got != tt.want {
			t.Errorf("%s: SheetsFor(%d, %d, %v) = %d, want %d", tt.name, tt.impressions, tt.copies, tt.duplex, got, tt.want)
		}
	}
}

func TestClicksFor(t *testing.T) {
	tests := []struct {
		paper string
		sides int
		want  int
	}{
		{"iso_a4_210x297mm", 10, 10},
		{"iso_a3_297x420mm", 10, 20},
		{"iso_a5_148x210mm", 3, 3},
		{"iso_a2_420x594mm", 1, 4},
		{"na_letter_8.5x11in", 2, 2},
		{"na_legal_8.5x14in", 2, 2},
		{"na_ledger_11x17in", 2, 4},
		{"iso_b4_250x353mm", 1, 1},
		{"iso_sra3_320x450mm", 1, 2},
		{"", 5, 5},                         // the printer's default
		{"a4", 5, 5},                       // not a PWG name
		{"custom_x_0x0mm", 5, 5},           // no area
		{"custom_x_99999999x9mm", 5, 5},    // absurd
		{"custom_x_axbmm", 5, 5},           // not numbers
		{"iso_a3_297x420mm", 0, 0},         // nothing printed
		{"iso_a3_297x420mm", -2, 0},        // never negative
		{"om_small-photo_100x150mm", 1, 1}, // smaller than A4
	}
	for _, tt := range tests {
		if got := ClicksFor(tt.sides, tt.paper); got != tt.want {
			t.Errorf("ClicksFor(%d, %q) = %d, want %d", tt.sides, tt.paper, got, tt.want)
		}
	}
}

func TestNormalizeRecordType(t *testing.T) {
	for in, want := range map[string]string{"fax": "fax-out", "fax-out": "fax-out", "fax-in": "fax-in", "print": "print",
		"copy": "copy", "scan": "scan", "": ""} {
		if got := NormalizeRecordType(in); got != want {
			t.Errorf("NormalizeRecordType(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRecordCounts: whatever an agent reports, sheets and clicks stay
// within what the sides printed allow, and never go negative.
func FuzzRecordCounts(f *testing.F) {
	f.Add(5, 2, true, "iso_a3_297x420mm")
	f.Add(-1, 0, false, "")
	f.Add(1<<30, 7, true, "na_ledger_11x17in")
	f.Add(3, 1, false, "x_1e308x1e308mm")
	f.Fuzz(func(t *testing.T, impressions, copies int, duplex bool, paper string) {
		impressions %= 1 << 30 // a count a record can carry without overflow, 32-bit too
		sheets := SheetsFor(impressions, copies, duplex)
		clicks := ClicksFor(impressions, paper)
		if impressions <= 0 {
			if sheets != 0 || clicks != 0 {
				t.Fatalf("nothing printed: sheets %d, clicks %d", sheets, clicks)
			}
			return
		}
		if sheets < (impressions+1)/2 || sheets > impressions {
			t.Fatalf("SheetsFor(%d, %d, %v) = %d", impressions, copies, duplex, sheets)
		}
		if clicks < impressions || clicks > 64*impressions {
			t.Fatalf("ClicksFor(%d, %q) = %d", impressions, paper, clicks)
		}
	})
}
