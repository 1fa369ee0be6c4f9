package cross_test

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// target is one ARM build of the agent and how to run it here: binfmt_misc
// is not registered on the build machines, so qemu-user is always called
// explicitly, with -L pointing at Debian's cross sysroot for the dynamic
// loader and libc that cgo links against.
type target struct {
	name    string
	goarch  string
	goarm   string
	cc      string
	qemuBin string
	sysroot string
	machine elf.Machine
}

func armTarget() target {
	return target{"arm", "arm", "7", "arm-linux-gnueabihf-gcc", "qemu-arm-static", "/usr/arm-linux-gnueabihf", elf.EM_ARM}
}

func arm64Target() target {
	return target{"arm64", "arm64", "", "aarch64-linux-gnu-gcc", "qemu-aarch64-static", "/usr/aarch64-linux-gnu", elf.EM_AARCH64}
}

// require ends the test (a failure in CI) when the target's tools are
// missing.
func (tg target) require(t *testing.T) {
	t.Helper()
	testenv.Require(t, "go")
	testenv.Require(t, tg.cc)
	testenv.Require(t, tg.qemuBin)
	if _, err := os.Stat(filepath.Join(tg.sysroot, "include", "stdio.h")); err != nil {
		testenv.Unavailable(t, "%s has no C library headers (install libc6-dev-%s-cross): %v", tg.sysroot, map[string]string{"arm": "armhf", "arm64": "arm64"}[tg.name], err)
	}
}

func (tg target) env() []string {
	env := append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH="+tg.goarch, "CC="+tg.cc)
	if tg.goarm != "" {
		env = append(env, "GOARM="+tg.goarm)
	}
	return env
}

// goCmd runs the go tool for the target from the module root.
func (tg target) goCmd(ctx context.Context, t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleRoot(t)
	cmd.Env = tg.env()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: go %s: %v\n%s", tg.name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s: go %s (%s)", tg.name, args[0], time.Since(start).Round(time.Millisecond))
}

// qemu runs bin under the target's qemu-user and returns its output.
func (tg target) qemu(ctx context.Context, t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, tg.qemuBin, append([]string{"-L", tg.sysroot, bin}, args...)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", tg.name, tg.qemuBin, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func checkMachine(t *testing.T, bin string, want elf.Machine) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != want {
		t.Fatalf("%s is built for %v, want %v", bin, f.Machine, want)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	// go test runs a package's tests in the package's folder.
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found beside %s: %v", root, err)
	}
	return root
}

// The builds run one after the other: a cold cgo build of SQLite keeps a
// core busy for about 40 s per architecture.
func TestARMBuildsRunUnderQemu(t *testing.T) {
	for _, tg := range []target{armTarget(), arm64Target()} {
		t.Run(tg.name, func(t *testing.T) {
			tg.require(t)
			ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
			defer cancel()
			bin := filepath.Join(t.TempDir(), "tessera-linux-"+tg.name)
			tg.goCmd(ctx, t, "build", "-trimpath", "-o", bin, "./cmd/tessera")
			checkMachine(t, bin, tg.machine)
			out := tg.qemu(ctx, t, bin, "version")
			if !strings.Contains(out, "tessera") {
				t.Fatalf("%s version printed %q, want it to name tessera", tg.name, out)
			}
			t.Logf("%s: %s", tg.name, strings.TrimSpace(out))
		})
	}
}

// TestSQLiteUnderQemu runs the offline store's tests, which exercise the
// cgo SQLite build, as an ARMv7 binary: the 32-bit target is where a cgo or
// alignment problem would show.
func TestSQLiteUnderQemu(t *testing.T) {
	tg := armTarget()
	tg.require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "offline-arm.test")
	tg.goCmd(ctx, t, "test", "-c", "-o", bin, "github.com/tessera-print/tessera/offline")
	checkMachine(t, bin, tg.machine)

	// TestOpen* open a real database file (WAL, pragmas, migrations). A
	// package without them yet gets its short tests run instead.
	run := []string{"-test.run", "^TestOpen", "-test.v"}
	if list := tg.qemu(ctx, t, bin, "-test.list", "^TestOpen"); !strings.Contains(list, "TestOpen") {
		run = []string{"-test.run", ".", "-test.short", "-test.v"}
	}
	out := tg.qemu(ctx, t, bin, run...)
	if !strings.Contains(out, "--- PASS") || !strings.HasSuffix(strings.TrimSpace(out), "PASS") {
		t.Fatalf("offline tests under %s did not pass:\n%s", tg.qemuBin, out)
	}
	t.Logf("offline tests under %s:\n%s", tg.qemuBin, out)
}
