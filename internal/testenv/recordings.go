package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SNMPRecordings is the folder of real printers' SNMP recordings shared
// beside the repository (../shared/testdata/snmp from the module root), or
// $TESSERA_SNMP_TESTDATA. Missing recordings fail the test under CI.
func SNMPRecordings(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TESSERA_SNMP_TESTDATA")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			Unavailable(t, "printer recordings: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "testdata", "snmp")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "hp_envy6000.snmprec")); err != nil {
		Unavailable(t, "printer recordings not found (set TESSERA_SNMP_TESTDATA): %v", err)
	}
	return abs
}

// moduleRoot is the nearest folder above the working directory with a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
