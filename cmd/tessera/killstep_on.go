//go:build tessera_killstep && unix

package main

import (
	"bytes"
	"os"
	"syscall"

	"github.com/tessera-print/tessera/firmware"
)

// A test build (-tags tessera_killstep) that SIGKILLs itself right after
// the update step named in the file $TESSERA_TEST_KILL_FILE (firmware's
// step names: installed, trial-saved, switched, boot-counted, committed,
// rolling-back-saved, switched-back, rolled-back). The file is removed
// first, so the kill happens once, whichever process reaches the step:
// internal/e2e TestUpdateKilledEndToEnd kills the real agent at each step
// of an update, deterministically.
func init() {
	path := os.Getenv("TESSERA_TEST_KILL_FILE")
	if path == "" {
		return
	}
	firmware.StepHook = func(name string) {
		want, err := os.ReadFile(path)
		if err != nil || string(bytes.TrimSpace(want)) != name {
			return
		}
		if err := os.Remove(path); err != nil {
			return // not removed: never kill twice
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
