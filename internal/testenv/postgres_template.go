package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// pgTemplatePrefix names the folders of initdb'd templates in the temp
// dir; it must not match pgDirPrefix's glob, or removeStale would see them.
const pgTemplatePrefix = "tessera-testenv-pgtemplate-"

// pgInitdbOptions are initdb's options, without -D: trust on a
// loopback-only cluster; --no-sync only speeds initdb up (the server keeps
// fsync on).
const pgInitdbOptions = "--no-locale -E UTF8 -A trust -U " + pgUser + " --no-sync"

// pgTemplate returns a data directory initdb'd once per machine (1.5 s
// here, against 0.3 s to copy its 39 MB), for each cluster to copy. Its
// folder's name is a hash of what the result depends on: the programs
// (path, size, time), initdb's options and the server's user, so an
// upgraded PostgreSQL or new options make a new one. A file lock keeps
// concurrent test binaries from building it twice, and a marker written
// last keeps a half-built one (a binary killed meanwhile) from being used.
func pgTemplate(bin string, cred *syscall.Credential) (string, error) {
	key, err := pgTemplateKey(bin, cred)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), pgTemplatePrefix+key)
	data, ready := filepath.Join(dir, "data"), filepath.Join(dir, "ready")
	if _, err := os.Stat(ready); err == nil {
		return data, nil
	}
	unlock, err := flock(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(ready); err == nil {
		return data, nil // built by another binary while this one waited
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove a half-built PostgreSQL template: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("PostgreSQL template: %w", err)
	}
	if err := chownServer(dir, cred); err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), append([]string{"-D", data}, strings.Fields(pgInitdbOptions)...)...)
	cmd.Dir = dir // user postgres may not enter the current one
	cmd.SysProcAttr = childAttr(cred, syscall.SIGKILL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		return "", fmt.Errorf("PostgreSQL template: %w", err)
	}
	return data, nil
}

// pgTemplateKey hashes what an initdb'd data directory depends on.
func pgTemplateKey(bin string, cred *syscall.Credential) (string, error) {
	h := sha256.New()
	for _, prog := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(bin, prog))
		if err != nil {
			return "", fmt.Errorf("PostgreSQL: %w", err)
		}
		fmt.Fprintf(h, "%s %d %d\n", fi.Name(), fi.Size(), fi.ModTime().UnixNano())
	}
	fmt.Fprintf(h, "%s\n%s\n%d\n", bin, pgInitdbOptions, os.Geteuid())
	if cred != nil {
		fmt.Fprintf(h, "%d:%d\n", cred.Uid, cred.Gid)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// chownServer gives dir to the server's user (as root); the server
// refuses a data directory it does not own.
func chownServer(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("give %s to user postgres: %w", dir, err)
	}
	return nil
}

// flock takes an exclusive lock on path (waiting for it) and returns its
// release: lockFile without a testing.TB, for StartPostgresMain.
func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
