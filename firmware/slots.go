package firmware

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Slots are the two places an agent version is installed, one active:
// the agent runs from the active one, an update goes to the other (A/B,
// as gokrazy and RAUC do). DirSlots is the one implementation today;
// a partition pair is a later one.
type Slots interface {
	// Active is the slot the agent starts from: "a" or "b".
	Active() (string, error)
	// Dir is where a slot's files are.
	Dir(slot string) string
	// Switch makes slot the active one, atomically: a power cut leaves
	// one or the other active, never neither.
	Switch(slot string) error
}

// Other is the slot that is not s.
func Other(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// DirSlots are two directories, Root/a and Root/b, and a symbolic link
// Root/current naming the active one; the agent runs
// Root/current/tessera (Binary).
type DirSlots struct{ Root string }

// Binary is the agent binary of the active slot, through the link: what a
// service runs and what a restart executes.
func (d DirSlots) Binary() string { return filepath.Join(d.Root, "current", "tessera") }

// Dir is slot's directory.
func (d DirSlots) Dir(slot string) string { return filepath.Join(d.Root, slot) }

// Active reads the link.
func (d DirSlots) Active() (string, error) {
	target, err := os.Readlink(filepath.Join(d.Root, "current"))
	if err != nil {
		return "", fmt.Errorf("slots: %w", err)
	}
	if target != "a" && target != "b" {
		return "", fmt.Errorf("slots: current points to %q, not a or b", target)
	}
	return target, nil
}

// Switch replaces the link with one to slot: a new link renamed over the
// old, then the directory synced.
func (d DirSlots) Switch(slot string) error {
	if slot != "a" && slot != "b" {
		return fmt.Errorf("slots: no slot %q", slot)
	}
	tmp := filepath.Join(d.Root, "current.new")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink(slot, tmp); err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.Root, "current")); err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	return syncDir(d.Root)
}

// Init makes the slots with binary installed in slot a, active, if Root
// holds no slots yet (a package's first install does this).
func (d DirSlots) Init(binary string) error {
	if _, err := d.Active(); err == nil {
		return nil
	}
	for _, s := range []string{"a", "b"} {
		if err := os.MkdirAll(d.Dir(s), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(binary, filepath.Join(d.Dir("a"), "tessera"), 0o755); err != nil {
		return err
	}
	return d.Switch("a")
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	tmp := to + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
