package panel

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// webFiles lists the files under web/ that end in ext.
func webFiles(t *testing.T, ext string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("web", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ext) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no %s file under web/", ext)
	}
	return out
}

// esCheck returns the es-check that `make deps` installs (npm, pinned in
// package.json) at the repository's root, or ends the test: a failure in
// CI, a skip elsewhere.
func esCheck(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "node_modules", ".bin", "es-check"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, "es-check is not installed (make deps): %v", err)
	}
	return p
}

// runESCheck runs es-check es5 on files, with --checkFeatures, which also
// refuses built-ins newer than ES5 (Promise, Array.prototype.includes...).
func runESCheck(t *testing.T, bin string, files ...string) (string, error) {
	t.Helper()
	args := append([]string{"es5", "--checkFeatures", "--noColor"}, files...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestServedScriptsAreES5: every script the panel serves parses as ES5,
// for the printers' embedded browsers of 2013-2016.
func TestServedScriptsAreES5(t *testing.T) {
	bin := esCheck(t)
	files := webFiles(t, ".js")
	if out, err := runESCheck(t, bin, files...); err != nil {
		t.Fatalf("es-check es5 %v: %v\n%s", files, err, out)
	}
}

// TestESCheckRefusesNewer: the check above would catch newer code; an
// es-check that passes everything would make it worthless.
func TestESCheckRefusesNewer(t *testing.T) {
	bin := esCheck(t)
	for name, src := range map[string]string{
		"arrow":    "var f = () => 1;\n",
		"let":      "let x = 1;\n",
		"template": "var s = `x${1}`;\n",
		"promise":  "var p = new Promise(function (r) { r(1); });\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), name+".js")
			if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := runESCheck(t, bin, f); err == nil {
				t.Fatalf("es-check passed %q:\n%s", src, out)
			}
		})
	}
}

// TestPanelUsesNoNewerAPI: what es-check cannot see (it reads syntax and
// ES built-ins, not browser APIs) and the printers' browsers lack: fetch,
// Intl, classList (absent on SVG there), CSS grid and custom properties.
func TestPanelUsesNoNewerAPI(t *testing.T) {
	rules := []struct {
		ext string
		re  *regexp.Regexp
	}{
		{".js", regexp.MustCompile(`\bfetch\s*\(|\bIntl\b|\bclassList\b|\bPromise\b|\bWeakMap\b|\bSymbol\b`)},
		{".css", regexp.MustCompile(`display\s*:\s*(inline-)?grid|var\(\s*--|--[\w-]+\s*:`)},
	}
	for _, r := range rules {
		for _, f := range webFiles(t, r.ext) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				if m := r.re.FindString(line); m != "" {
					t.Errorf("%s:%d uses %q, which the printers' browsers lack", f, i+1, m)
				}
			}
		}
	}
}
