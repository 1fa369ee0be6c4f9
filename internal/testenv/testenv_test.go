package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// avahiDaemons counts avahi main processes ("avahi-daemon: running
// [host]"), leaving out its "chroot helper" and zombies.
func avahiDaemons() int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		s := string(b)
		if err == nil && strings.HasPrefix(s, "avahi-daemon: ") && !strings.Contains(s, "chroot helper") {
			n++
		}
	}
	return n
}

func TestFreePort(t *testing.T) {
	low, _ := ephemeralRange()
	for range 20 {
		p := FreePort(t)
		if p <= 0 || p > 65535 {
			t.Fatalf("FreePort = %d", p)
		}
		// Outgoing connections take their ports from the ephemeral range;
		// a port from it could be gone before the program binds it.
		if low > 11000 && p >= low {
			t.Fatalf("FreePort = %d, inside the ephemeral range from %d", p, low)
		}
	}
}

func TestStartDNSSDIdempotent(t *testing.T) {
	// Parallel callers must neither fail nor start a second avahi.
	t.Run("callers", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				StartDNSSD(t)
			})
		}
	})
	if n := avahiDaemons(); n != 1 {
		t.Fatalf("%d avahi-daemon processes", n)
	}
	if !processRunning("avahi-daemon") {
		t.Fatal("avahi-daemon is not running")
	}
	if _, err := os.Stat(dbusSocket); err != nil {
		t.Fatal(err)
	}
}

func TestStartIPPEveprinter(t *testing.T) {
	a := StartIPPEveprinter(t)
	b := StartIPPEveprinter(t)
	if a.Port == b.Port || a.Name == b.Name {
		t.Fatalf("two printers share a port or name: %+v %+v", a, b)
	}
	if err := getPrinterAttributes(t.Context(), a.Port); err != nil {
		t.Fatal(err)
	}
	// Printing itself is tested with the IPP client in printer/ipp.
}

func TestBuildBinaryOnce(t *testing.T) {
	const pkg = "github.com/tessera-print/tessera/internal/testenv/testdata/hello"
	p1 := BuildBinary(t, pkg)
	p2 := BuildBinary(t, pkg)
	if p1 != p2 {
		t.Fatalf("built twice: %s, %s", p1, p2)
	}
	if fi, err := os.Stat(p1); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("not an executable: %v", err)
	}
	if filepath.Base(filepath.Dir(p1)) == "" {
		t.Fatal("no build folder")
	}
}
