package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildBinaryAt builds the main package pkg as it was at commit, from this
// repository's history, and returns the executable's path: an earlier
// version of a program run beside the current one (a rolling upgrade). The
// source is taken with git archive into a temporary folder; the modules
// come from the module cache (make deps). A history without the commit (a
// shallow clone) skips the test: no installation can supply it.
func BuildBinaryAt(t testing.TB, commit, pkg string) string {
	t.Helper()
	gitBin, goBin := Require(t, "git"), Require(t, "go")
	top, err := exec.Command(gitBin, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	repo := strings.TrimSpace(string(top))
	if err := exec.Command(gitBin, "-C", repo, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		t.Skipf("this clone's history lacks commit %s (shallow?); the test builds %s as it was there", commit, pkg)
	}
	src := t.TempDir()
	tarred, err := exec.Command(gitBin, "-C", repo, "archive", "--format=tar", commit).Output()
	if err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	extract := exec.Command("tar", "-x", "-C", src)
	extract.Stdin = bytes.NewReader(tarred)
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", commit, err, out)
	}
	dir, err := buildDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, fmt.Sprintf("%s-%.12s", filepath.Base(pkg), commit))
	build := exec.Command(goBin, "build", "-o", bin, pkg)
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s at %s: %v\n%s", pkg, commit, err, out)
	}
	return bin
}
