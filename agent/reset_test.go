package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tessera-print/tessera/offline"
)

// TestFactoryReset: a reset refuses while an agent holds the directory
// and while accounting records are unsent; forced, it leaves only the
// installed versions, and the log file is gone.
func TestFactoryReset(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := offline.Open(ctx, filepath.Join(dir, "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Enqueue(ctx, offline.KindAccounting, "rec-1", map[string]string{"owner": "grace"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for name, data := range map[string]string{"device-token": "tok", "spool/job-1": "doc", "config.override.json": "{}",
		"slots/a/tessera": "bin", "update-state.json": "{}"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
		os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600)
	}
	logFile := filepath.Join(t.TempDir(), "tessera.log")
	os.WriteFile(logFile, []byte("grace logged in"), 0o600)

	release, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := FactoryReset(ctx, dir, ResetOptions{Force: true}); !errors.Is(err, errDataDirInUse) {
		t.Errorf("a reset under a running agent: %v", err)
	}
	release()
	if err := FactoryReset(ctx, dir, ResetOptions{LogFile: logFile}); !errors.Is(err, ErrUnsentRecords) {
		t.Fatalf("a reset with an unsent record: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "device-token")); err != nil {
		t.Fatalf("a refused reset removed something: %v", err)
	}
	if err := FactoryReset(ctx, dir, ResetOptions{Force: true, LogFile: logFile}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{lockFileName, "slots", "update-state.json"}; !slices.Equal(left, want) {
		t.Errorf("left after the reset: %v, want %v", left, want)
	}
	if _, err := os.Stat(logFile); !os.IsNotExist(err) {
		t.Errorf("the log file: %v", err)
	}
	// A reset of a directory with nothing unsent needs no force.
	if err := FactoryReset(ctx, dir, ResetOptions{}); err != nil {
		t.Errorf("a second reset: %v", err)
	}
}
