package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Unavailable ends the test because a component it needs is missing: a
// failure in CI (CI=true), where everything must be installed, and a skip
// elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Require returns the path of program, or ends the test (see Unavailable).
func Require(t testing.TB, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		Unavailable(t, "%s is not installed: %v", program, err)
	}
	return p
}

// FreePort returns a TCP port on the loopback interface that was free a
// moment ago. See loopbackPort for why it is not simply port 0's choice.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := loopbackPort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// loopbackPort picks a port below the kernel's ephemeral range and checks
// that it can be bound. A port the kernel hands out for port 0 comes from
// the ephemeral range, where any outgoing connection of any process may
// take it between our check and the program's own bind (a CI run failed on
// "address already in use" that way); below the range only another
// listener can, and a random choice among ~20,000 makes two tests meeting
// unlikely.
func loopbackPort() (int, error) {
	low, _ := ephemeralRange()
	const first = 10000
	if low-first >= 1000 {
		for range 50 {
			var b [2]byte
			_, _ = rand.Read(b[:])
			port := first + int(binary.BigEndian.Uint16(b[:]))%(low-first)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralRange reads the kernel's range for port 0 (Linux; elsewhere the
// IANA default).
func ephemeralRange() (low, high int) {
	low, high = 49152, 65535
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return low, high
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return low, high
	}
	return l, h
}

const dbusSocket = "/run/dbus/system_bus_socket"

// StartDNSSD makes sure the system D-Bus and avahi-daemon run, which
// ippeveprinter needs (it exits with "Unable to initialize DNS-SD"
// without them). The daemons are system-wide and stay up after the test;
// a file lock serialises test binaries that start them at the same time.
func StartDNSSD(t testing.TB) {
	t.Helper()
	dbus := Require(t, "dbus-daemon")
	avahi := Require(t, "avahi-daemon")

	unlock := lockFile(t, filepath.Join(os.TempDir(), "tessera-testenv-dnssd.lock"))
	defer unlock()

	if !dbusAlive() {
		// A bus that died leaves its socket and pid file behind, and
		// dbus-daemon refuses to start over an existing pid file.
		os.Remove(dbusSocket)
		os.Remove(dbusPIDFile)
		if err := os.MkdirAll(filepath.Dir(dbusSocket), 0o755); err != nil {
			Unavailable(t, "cannot start D-Bus: %v", err)
		}
		if out, err := exec.Command(dbus, "--system", "--fork").CombinedOutput(); err != nil {
			Unavailable(t, "dbus-daemon --system --fork: %v: %s", err, out)
		}
		if !poll(5*time.Second, dbusAlive) {
			t.Fatalf("dbus-daemon started but does not answer on %s", dbusSocket)
		}
	}
	// avahi can exit soon after starting when the bus was not quite ready:
	// start it again then.
	for attempt := 0; ; attempt++ {
		if !processRunning("avahi-daemon") {
			os.Remove(avahiPIDFile) // stale: avahi is not running
			if out, err := exec.Command(avahi, "-D").CombinedOutput(); err != nil {
				Unavailable(t, "avahi-daemon -D: %v: %s", err, out)
			}
		}
		// "avahi-daemon --check" succeeds once the daemon is up.
		if poll(3*time.Second, func() bool { return exec.Command(avahi, "--check").Run() == nil }) {
			return
		}
		if attempt == 2 {
			t.Fatalf("avahi-daemon did not come up")
		}
	}
}

const (
	dbusPIDFile  = "/run/dbus/pid"
	avahiPIDFile = "/run/avahi-daemon/pid"
)

// dbusAlive reports whether the system bus accepts connections.
func dbusAlive() bool {
	c, err := net.DialTimeout("unix", dbusSocket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// lockFile takes an exclusive flock on path and returns its release.
func lockFile(t testing.TB, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// processRunning reports whether a live (not zombie) process with this
// command name runs: what pgrep -x does, without needing procps.
func processRunning(comm string) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// "pid (comm) state ...": comm may itself hold parentheses.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || end+2 >= len(s) {
			continue
		}
		if s[open+1:end] == comm && s[end+2] != 'Z' {
			return true
		}
	}
	return false
}

func poll(limit time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// IPPEve is a running ippeveprinter.
type IPPEve struct {
	URI   string // ipp://localhost:PORT/ipp/print
	Spool string // where it keeps documents, as <id>-<job name>.<ext>
	Port  int
	Name  string // the printer-name, unique per start
	// Dir holds the print command, as "$(dirname "$0")" in the command
	// itself: the place for files through which a test steers it.
	Dir string
}

// IPPEveOptions change how StartIPPEveprinterWith's printer prints.
type IPPEveOptions struct {
	// Command is the print command, a shell script run with the
	// document's path as $1; what it writes to stderr as "ATTR:
	// name=value" becomes a job attribute (RECIPES.md §0). Empty means
	// EngineCommand.
	Command string
}

// EngineCommand is the print command of RECIPES.md §0: without one,
// ippeveprinter takes 7-20 s per job and reports no impressions. It
// completes each job at once, with job-impressions-completed set to the
// page count of the PDF.
const EngineCommand = `#!/bin/sh
# engine.sh FILE: count the pages of a PDF and report them
n=$(grep -a -c "/Type */Page[^s]" "$1" 2>/dev/null); [ "${n:-0}" -ge 1 ] || n=1
echo "ATTR: job-impressions-completed=$n" >&2
exit 0
`

// GatedCommand is EngineCommand behind a gate: each job stays processing
// on the printer until the test calls OpenGate, so that the test can act
// while a job is surely on the printer and not yet completed. It also
// gives up waiting when its folder is gone or after 5 minutes, so that a
// printer killed mid-job leaves no shell polling forever.
const GatedCommand = `#!/bin/sh
dir=$(dirname "$0")
i=0
while [ ! -e "$dir/gate" ] && [ -d "$dir" ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done
n=$(grep -a -c "/Type */Page[^s]" "$1" 2>/dev/null); [ "${n:-0}" -ge 1 ] || n=1
echo "ATTR: job-impressions-completed=$n" >&2
exit 0
`

// StartIPPEveprinter starts an ippeveprinter that accepts PDF and
// application/octet-stream, keeps every document in its spool folder, and
// completes each job in milliseconds with job-impressions-completed set
// to the page count. It runs until the test ends. Concurrent test
// binaries each get their own name and port.
func StartIPPEveprinter(t testing.TB) *IPPEve {
	t.Helper()
	return StartIPPEveprinterWith(t, IPPEveOptions{})
}

// StartIPPEveprinterWith is StartIPPEveprinter with another print command.
// When the test ends the gate is opened (see GatedCommand), so that a job
// still waiting ends before the printer is stopped.
func StartIPPEveprinterWith(t testing.TB, opts IPPEveOptions) *IPPEve {
	t.Helper()
	bin := Require(t, "ippeveprinter")
	StartDNSSD(t)

	command := opts.Command
	if command == "" {
		command = EngineCommand
	}
	dir := t.TempDir()
	engine := filepath.Join(dir, "engine.sh")
	if err := os.WriteFile(engine, []byte(command), 0o755); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	// A port found free can be taken before ippeveprinter binds it, and
	// avahi can lag behind its --check: both deserve another try.
	for attempt := 0; attempt < 3; attempt++ {
		e := &IPPEve{Spool: spool, Dir: dir, Port: FreePort(t), Name: "Tessera-Test-" + randomHex(6)}
		e.URI = fmt.Sprintf("ipp://localhost:%d/ipp/print", e.Port)
		err := e.start(t, bin, engine)
		if err == nil {
			return e
		}
		lastErr = err
		t.Logf("ippeveprinter attempt %d: %v", attempt+1, err)
	}
	t.Fatalf("ippeveprinter did not start: %v", lastErr)
	return nil
}

// OpenGate lets the job waiting in a GatedCommand, and every later one,
// complete.
func (e *IPPEve) OpenGate() error {
	if err := os.WriteFile(filepath.Join(e.Dir, "gate"), nil, 0o644); err != nil {
		return fmt.Errorf("open the printer's gate: %w", err)
	}
	return nil
}

func (e *IPPEve) start(t testing.TB, bin, engine string) error {
	t.Helper()
	var out Buffer
	cmd := exec.Command(bin, "-c", engine, "-n", "localhost", "-p", strconv.Itoa(e.Port),
		"-k", "-d", e.Spool, "-f", "application/pdf,application/octet-stream", e.Name)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if err := getPrinterAttributes(ctx, e.Port); err == nil {
			break
		}
		select {
		case err := <-done:
			return fmt.Errorf("exited (%v): %s", err, out.String())
		case <-ctx.Done():
			stop(cmd, done)
			return fmt.Errorf("no answer within 15 s: %s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		_ = e.OpenGate()
		stop(cmd, done)
		if t.Failed() {
			t.Logf("ippeveprinter %s output:\n%s", e.Name, out.String())
		}
	})
	return nil
}

// stop ends the printer by its PID: SIGTERM, then SIGKILL if it lingers.
func stop(cmd *exec.Cmd, done chan error) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// getPrinterAttributes sends a minimal Get-Printer-Attributes and checks
// for successful-ok. It is written out by hand so that this package needs
// no IPP library, and the IPP client under test is not its own judge.
func getPrinterAttributes(ctx context.Context, port int) error {
	uri := fmt.Sprintf("ipp://localhost:%d/ipp/print", port)
	var b bytes.Buffer
	b.Write([]byte{2, 0, 0, 0x0b, 0, 0, 0, 1, 0x01})
	attr := func(tag byte, name, value string) {
		b.WriteByte(tag)
		binary.Write(&b, binary.BigEndian, uint16(len(name)))
		b.WriteString(name)
		binary.Write(&b, binary.BigEndian, uint16(len(value)))
		b.WriteString(value)
	}
	attr(0x47, "attributes-charset", "utf-8")
	attr(0x48, "attributes-natural-language", "en")
	attr(0x45, "printer-uri", uri)
	attr(0x44, "requested-attributes", "printer-state")
	b.WriteByte(0x03)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		fmt.Sprintf("http://localhost:%d/ipp/print", port), &b)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/ipp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if head[2] != 0 || head[3] != 0 {
		return fmt.Errorf("IPP status 0x%02x%02x", head[2], head[3])
	}
	return nil
}

// Kept returns the path of the document ippeveprinter kept for job id,
// waiting briefly for it to appear.
func (e *IPPEve) Kept(t testing.TB, jobID int) string {
	t.Helper()
	var found string
	poll(5*time.Second, func() bool {
		matches, _ := filepath.Glob(filepath.Join(e.Spool, strconv.Itoa(jobID)+"-*"))
		for _, m := range matches {
			// The .prn file is the print command's output, not the document.
			if filepath.Ext(m) != ".prn" {
				found = m
				return true
			}
		}
		return false
	})
	if found == "" {
		t.Fatalf("ippeveprinter kept no document for job %d in %s", jobID, e.Spool)
	}
	return found
}

// builds caches BuildBinary's results for the life of the test binary.
// It is test-only state: one build per package, shared by all tests.
var builds sync.Map // package path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildBinary builds the main package pkg once per test binary and
// returns the path of the executable. The binaries live in a folder named
// after the test process; folders of test processes that have ended are
// removed on the next first build.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	goBin := Require(t, "go")
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir, err := buildDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg)+"-"+randomHex(4))
		out, err := exec.Command(goBin, "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// BuildBinaryWith builds the main package pkg with build flags (-tags,
// -ldflags, ...) into a new executable each call: for tests that need two
// versions of one program side by side.
func BuildBinaryWith(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	goBin := Require(t, "go")
	dir, err := buildDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.Base(pkg)+"-"+randomHex(4))
	args := append(append([]string{"build", "-o", path}, flags...), pkg)
	if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(flags, " "), err, out)
	}
	return path
}

func buildDir() (string, error) {
	const prefix = "tessera-testenv-bin-"
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, d := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), prefix))
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
	dir := filepath.Join(os.TempDir(), prefix+strconv.Itoa(os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Buffer collects a child's output while tests may read it: safe for
// concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
