package testenv

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// SNMPSimDataDir returns a new, empty folder that snmpsimd (which drops
// to nobody) can read, removed when the test ends. A test that edits its
// .snmprec files while the simulator runs writes them here and passes the
// folder to StartSNMPSim, which then serves it in place rather than from
// a copy.
func SNMPSimDataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tessera-snmpsim-data-")
	if err != nil {
		t.Fatalf("snmpsim data dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("snmpsim data dir: %v", err)
	}
	return dir
}

// StartSNMPSim serves the .snmprec recordings in dataDir with the real
// snmpsimd (SNMP v1/v2c; the community of DIR/NAME.snmprec is NAME) until
// the test ends, and returns its address, "127.0.0.1:PORT". It waits
// until the simulator answers a GET with the community of the first
// recording. When nobody cannot read dataDir, the recordings are served
// from a world-readable copy, so later edits of dataDir are not seen
// (use SNMPSimDataDir for that).
func StartSNMPSim(t testing.TB, dataDir string) string {
	t.Helper()
	// Run by its path: its shebang names /usr/bin/python3, the interpreter
	// that has pysnmp, whereas a "python3" first in PATH may not.
	bin := Require(t, "snmpsimd")

	community, err := firstCommunity(dataDir)
	if err != nil {
		t.Fatalf("snmpsim: %v", err)
	}
	work, err := os.MkdirTemp("", "tessera-snmpsim-")
	if err != nil {
		t.Fatalf("snmpsim: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatalf("snmpsim: %v", err)
	}

	served := dataDir
	if !readableByOthers(dataDir) {
		served = filepath.Join(work, "data")
		if err := copyWorldReadable(dataDir, served); err != nil {
			t.Fatalf("snmpsim: copy %s: %v", dataDir, err)
		}
	}
	// snmpsimd creates its cache after dropping to nobody, and exits when
	// it cannot: the folder must exist and belong to nobody beforehand.
	cache := filepath.Join(work, "cache")
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatalf("snmpsim: %v", err)
	}
	if err := chownNobody(cache); err != nil {
		Unavailable(t, "snmpsim: cannot give the cache dir to nobody: %v", err)
	}

	var lastErr error
	// A port found free can be taken before snmpsimd binds it: try again.
	for attempt := 0; attempt < 3; attempt++ {
		port := FreePort(t)
		err := startSNMPSim(t, bin, served, cache, community, port)
		if err == nil {
			return "127.0.0.1:" + strconv.Itoa(port)
		}
		lastErr = err
		t.Logf("snmpsimd attempt %d: %v", attempt+1, err)
	}
	t.Fatalf("snmpsimd did not start: %v", lastErr)
	return ""
}

func startSNMPSim(t testing.TB, bin, dataDir, cache, community string, port int) error {
	t.Helper()
	var out Buffer
	cmd := exec.Command(bin,
		"--v2c-arch",
		"--process-user=nobody", "--process-group=nogroup",
		"--logging-method=stderr",
		"--agent-udpv4-endpoint=127.0.0.1:"+strconv.Itoa(port),
		"--data-dir="+dataDir,
		"--cache-dir="+cache)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	deadline := time.After(20 * time.Second)
	for !snmpAnswers(port, community) {
		select {
		case err := <-done:
			return fmt.Errorf("exited (%v): %s", err, out.String())
		case <-deadline:
			stop(cmd, done)
			return fmt.Errorf("no answer within 20 s: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		stop(cmd, done)
		if t.Failed() {
			t.Logf("snmpsimd output:\n%s", out.String())
		}
	})
	return nil
}

// snmpAnswers reports whether an agent on the port answers a v2c GET of
// sysDescr: any response, even noSuchObject, means it is serving.
func snmpAnswers(port int, community string) bool {
	g := &gosnmp.GoSNMP{
		Target:    "127.0.0.1",
		Port:      uint16(port),
		Community: community,
		Version:   gosnmp.Version2c,
		Timeout:   250 * time.Millisecond,
		Retries:   0,
	}
	if err := g.Connect(); err != nil {
		return false
	}
	defer g.Conn.Close()
	_, err := g.Get([]string{"1.3.6.1.2.1.1.1.0"})
	return err == nil
}

// firstCommunity returns the community of the first recording in dir, in
// name order.
func firstCommunity(dir string) (string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.snmprec"))
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no .snmprec file in %s", dir)
	}
	sort.Strings(names)
	return strings.TrimSuffix(filepath.Base(names[0]), ".snmprec"), nil
}

// readableByOthers reports whether a user who is neither owner nor group
// member can reach dir through its parents and read everything in it.
func readableByOthers(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	ok := true
	filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			ok = false
			return filepath.SkipAll
		}
		fi, err := d.Info()
		if err != nil {
			ok = false
			return filepath.SkipAll
		}
		want := fs.FileMode(0o004)
		if d.IsDir() {
			want = 0o005
		}
		if fi.Mode().Perm()&want != want {
			ok = false
			return filepath.SkipAll
		}
		return nil
	})
	return ok
}

// copyWorldReadable copies the folders and regular files under src to
// dst with modes 0755 and 0644.
func copyWorldReadable(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
		return nil
	})
}

func chownNobody(path string) error {
	u, err := user.Lookup("nobody")
	if err != nil {
		return err
	}
	g, err := user.LookupGroup("nogroup")
	if err != nil {
		return err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}
