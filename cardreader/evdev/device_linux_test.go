//go:build linux

package evdev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This machine has no input devices: these check that what is not one is
// refused with a clear reason, and that a scan says what it found.
func TestOpenNotAnInputDevice(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "event0")
	if err := os.WriteFile(p, make([]byte, 48), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openDevice(dir, Selector{Path: p}); err == nil || !strings.Contains(err.Error(), "not an input device") {
		t.Errorf("open of a regular file: %v", err)
	}
	if _, err := openDevice(dir, Selector{Path: filepath.Join(dir, "missing")}); err == nil {
		t.Error("open of a missing file succeeded")
	}
	_, err := openDevice(dir, Selector{Name: "RFID Reader"})
	if err == nil || !strings.Contains(err.Error(), `name="RFID Reader"`) || !strings.Contains(err.Error(), "no input devices in") {
		t.Errorf("scan: %v", err)
	}
	// /dev/null is a character device, but not an input device.
	if _, err := openDevice(dir, Selector{Path: "/dev/null"}); err == nil || !strings.Contains(err.Error(), "not an input device") {
		t.Errorf("open of /dev/null: %v", err)
	}
}

func TestSelectorMatches(t *testing.T) {
	info := deviceInfo{name: "RFIDeas USB Keyboard", vendor: 0x0c27, product: 0x3bfa, typesDigits: true}
	for _, tt := range []struct {
		sel  Selector
		info deviceInfo
		want bool
	}{
		{Selector{Name: "RFIDeas USB Keyboard"}, info, true},
		{Selector{Name: "RFIDeas"}, info, false},
		{Selector{Vendor: 0x0c27, Product: 0x3bfa, HasID: true}, info, true},
		{Selector{Vendor: 0x0c27, Product: 0x3bfb, HasID: true}, info, false},
		{Selector{Name: "RFIDeas USB Keyboard", Vendor: 0x0c27, Product: 0x3bfa, HasID: true}, info, true},
		{Selector{Name: "RFIDeas USB Keyboard"}, deviceInfo{name: "RFIDeas USB Keyboard"}, false}, // its consumer-keys interface
	} {
		if got := tt.sel.matches(tt.info); got != tt.want {
			t.Errorf("%v matches %+v = %v, want %v", tt.sel, tt.info, got, tt.want)
		}
	}
}
