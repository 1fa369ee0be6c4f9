package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGolden: each testdata/validate/NAME.json is loaded and
// validated; the problems, one a line, must be NAME.errors (empty for a
// valid config). Several problems are reported at once, the modules'
// parsers included (SNMP URL, card pipeline, reader specs, user-name rule,
// the printer client's URI), as the agent would meet them at start-up.
// TESSERA_UPDATE_GOLDEN=1 rewrites the .errors files.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "validate", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden configs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := cfg.Validate(); err != nil {
				got = err.Error() + "\n"
			}
			golden := strings.TrimSuffix(file, ".json") + ".errors"
			if os.Getenv("TESSERA_UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (TESSERA_UPDATE_GOLDEN=1 writes it)", err)
			}
			if got != string(want) {
				t.Errorf("Validate of %s:\n%s\nwant (%s):\n%s", file, got, golden, want)
			}
		})
	}
}
