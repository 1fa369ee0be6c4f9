package localspool

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestLPThroughCUPS is a workstation printing with `lp` to a CUPS queue
// that points at the agent, set up as an administrator would (lpadmin -m
// everywhere, RECIPES.md §1 for the private cupsd).
func TestLPThroughCUPS(t *testing.T) {
	cupsd := testenv.Require(t, "cupsd")
	lpadmin := testenv.Require(t, "lpadmin")
	lp := testenv.Require(t, "lp")
	lpstat := testenv.Require(t, "lpstat")
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "a private cupsd needs root (it runs its backends as lp)")
	}

	s := newSpool(t, Config{})
	held, _ := serve(t, s)
	port := testenv.FreePort(t)
	host := "127.0.0.1:" + strconv.Itoa(port)
	startCUPSD(t, cupsd, port)

	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(lpadmin, "-h", host, "-p", "agent", "-E", "-v", held, "-m", "everywhere")
	out := run(lp, "-h", host, "-d", "agent", "-U", testUser, "-t", "Minutes of the meeting", testdataPath(t, "gs-3-pages.pdf"))
	if !strings.Contains(out, "agent-1") {
		t.Fatalf("lp: %s", out)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		jobs, err := s.List(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			j := jobs[0]
			// cups-filters may rewrite the PDF on the way (pdftopdf), so
			// the bytes are CUPS', not the file's; the pages are the same.
			if j.Owner != testUser || j.Name != "Minutes of the meeting" || j.Format != "application/pdf" || j.Pages != 3 {
				t.Fatalf("held job %+v", j)
			}
			t.Logf("held: %+v", j)
			d, err := s.Open(t.Context(), j.ID, testUser)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(d.Body)
			d.Body.Close()
			if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) || int64(len(b)) != j.Size {
				t.Fatalf("document: %d bytes, %v", len(b), err)
			}
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(cupsRoot(t), "log", "error_log"))
			t.Fatalf("no job reached the spool; %d held\n%s", len(jobs), tail(log, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// CUPS considers its part done once the job is held here: its ipp
	// backend does not wait for a pending-held job.
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(run(lpstat, "-h", host, "-W", "completed", "-o", "agent"), "agent-1") {
		if time.Now().After(deadline) {
			t.Fatal("the CUPS job never completed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

// cupsRoot is the private cupsd's directory. It is not a t.TempDir: the
// backends run as lp and must traverse every parent.
func cupsRoot(t *testing.T) string {
	t.Helper()
	return filepath.Join(os.TempDir(), "tessera-localspool-cups-"+strconv.Itoa(os.Getpid())+"-"+strings.ReplaceAll(t.Name(), "/", "_"))
}

func startCUPSD(t *testing.T, cupsd string, port int) {
	t.Helper()
	root := cupsRoot(t)
	os.RemoveAll(root)
	for _, d := range []string{"etc", "spool/tmp", "cache", "state", "log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	files := fmt.Sprintf(`ServerRoot %[1]s/etc
RequestRoot %[1]s/spool
TempDir %[1]s/spool/tmp
CacheDir %[1]s/cache
StateDir %[1]s/state
DataDir /usr/share/cups
ServerBin /usr/lib/cups
DocumentRoot /usr/share/cups/doc-root
AccessLog %[1]s/log/access_log
ErrorLog %[1]s/log/error_log
PageLog %[1]s/log/page_log
User lp
Group lp
SystemGroup root lpadmin
Sandboxing Relaxed
`, root)
	def, err := os.ReadFile("/usr/share/cups/cupsd.conf.default")
	if err != nil {
		testenv.Unavailable(t, "cupsd.conf.default: %v", err)
	}
	var conf []string
	for _, line := range strings.Split(string(def), "\n") {
		switch {
		case strings.HasPrefix(line, "Listen "):
			continue
		case strings.HasPrefix(line, "Browsing "):
			line = "Browsing No"
		case strings.HasPrefix(line, "BrowseLocalProtocols "):
			line = "BrowseLocalProtocols none"
		case strings.HasPrefix(line, "DefaultAuthType "):
			line = "DefaultAuthType None"
		case strings.HasPrefix(line, "IdleExitTimeout "):
			line = "IdleExitTimeout 0"
		}
		conf = append(conf, line)
	}
	conf = append(conf, "Listen 127.0.0.1:"+strconv.Itoa(port), "LogLevel debug")
	confPath, filesPath := filepath.Join(root, "cupsd.conf"), filepath.Join(root, "cups-files.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filesPath, []byte(files), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cupsd, "-f", "-c", confPath, "-s", filesPath)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("cupsd exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cupsd does not listen: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
