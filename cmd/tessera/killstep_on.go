//go:build tessera_killstep && unix

package main

import (
	"bytes"
	"os"
	"syscall"
)

// updateStepHook, in a test build (-tags tessera_killstep), SIGKILLs the
// agent right after the update step named in the file
// $TESSERA_TEST_KILL_FILE (firmware's step names: installed, trial-saved, switched, boot-counted, committed,
// rolling-back-saved, switched-back, rolled-back). The file is removed
// first, so the kill happens once, whichever process reaches the step:
// internal/e2e TestUpdateKilledEndToEnd kills the real agent at each step
// of an update, deterministically.
func updateStepHook() func(string) {
	path := os.Getenv("TESSERA_TEST_KILL_FILE")
	if path == "" {
		return nil
	}
	return func(name string) {
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
