package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CUPSDOptions configure StartCUPSD.
type CUPSDOptions struct {
	// Basic runs cupsd with the stock policy, DefaultAuthType Basic: the
	// operator must then authenticate with a password, which cupsd checks
	// through PAM against the system's users, so a throwaway system user
	// in the lpadmin group is created for the test (and removed after).
	//
	// RECIPES.md §1 also names a variant that drops the "AuthType
	// Default" lines; it is not used, because cupsd then ignores a wrong
	// password and falls back to requesting-user-name, so it cannot test
	// authentication at all (checked with cups 2.4.2).
	//
	// Without Basic, cupsd has DefaultAuthType None and the operator is
	// root, whose requesting-user-name is taken as is.
	Basic bool
}

// CUPSD is a private cupsd with one held queue.
type CUPSD struct {
	Addr     string // 127.0.0.1:PORT
	Port     int
	Queue    string // "heldq"
	URL      string // ipp://127.0.0.1:PORT/printers/heldq
	Dir      string // its configuration, spool and logs
	Operator string // "root", or the throwaway user with Basic
	Password string // "" without Basic
	cmd      *exec.Cmd
	done     chan error
}

// StartCUPSD starts a private cupsd as RECIPES.md §1 describes, on a free
// port of 127.0.0.1, with a queue "heldq" whose device is /dev/null (a
// held job never reaches it), PreserveJobFiles and PreserveJobHistory. It
// is stopped by its PID when the test ends. It needs root: cupsd runs
// its children as lp, and the Basic variant creates a system user.
func StartCUPSD(t testing.TB, opts CUPSDOptions) *CUPSD {
	t.Helper()
	cupsd := Require(t, "cupsd")
	lpadmin := Require(t, "lpadmin")
	Require(t, "lp")
	if os.Geteuid() != 0 {
		Unavailable(t, "a private cupsd needs root")
	}
	if _, err := os.Stat("/usr/share/cups/cupsd.conf.default"); err != nil {
		Unavailable(t, "cupsd's stock configuration is missing: %v", err)
	}

	// cupsd's children run as lp, which must be able to traverse every
	// parent of the spool: t.TempDir()'s parents may be 0700.
	dir, err := os.MkdirTemp(os.TempDir(), "tessera-cupsd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &CUPSD{Dir: dir, Queue: "heldq", Operator: "root"}
	if opts.Basic {
		c.Operator, c.Password = addSystemUser(t)
	}

	var lastErr error
	// A port found free can be taken before cupsd binds it.
	for attempt := 0; attempt < 3; attempt++ {
		c.Port = FreePort(t)
		c.Addr = "127.0.0.1:" + strconv.Itoa(c.Port)
		c.URL = "ipp://" + c.Addr + "/printers/" + c.Queue
		if lastErr = c.start(t, cupsd, opts); lastErr == nil {
			break
		}
		t.Logf("cupsd attempt %d: %v", attempt+1, lastErr)
	}
	if lastErr != nil {
		t.Fatalf("cupsd did not start: %v", lastErr)
	}

	// lpadmin as root authenticates with the local certificate cupsd
	// writes to its StateDir, which is private here.
	cmd := exec.Command(lpadmin, "-h", c.Addr, "-p", c.Queue, "-E", "-v", "file:///dev/null")
	cmd.Env = c.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lpadmin: %v: %s\n%s", err, out, c.ErrorLog())
	}
	return c
}

func (c *CUPSD) start(t testing.TB, bin string, opts CUPSDOptions) error {
	t.Helper()
	d := c.Dir
	for _, sub := range []string{"etc", "spool/tmp", "cache", "state", "log"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return err
		}
	}
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
Printcap %[1]s/state/printcap
User lp
Group lp
SystemGroup root lpadmin
FileDevice Yes
Sandboxing Relaxed
`, d)
	stock, err := os.ReadFile("/usr/share/cups/cupsd.conf.default")
	if err != nil {
		return err
	}
	var conf strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(stock)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Listen "):
			continue // replaced below: no localhost:631, no /run socket
		case strings.HasPrefix(line, "Browsing "):
			line = "Browsing No"
		case strings.HasPrefix(line, "BrowseLocalProtocols "):
			line = "BrowseLocalProtocols none"
		case strings.HasPrefix(line, "IdleExitTimeout "):
			line = "IdleExitTimeout 0"
		case strings.HasPrefix(line, "DefaultAuthType ") && !opts.Basic:
			line = "DefaultAuthType None"
		case strings.HasPrefix(line, "LogLevel "):
			line = "LogLevel debug"
		}
		conf.WriteString(line + "\n")
	}
	fmt.Fprintf(&conf, "Listen %s\nPreserveJobFiles Yes\nPreserveJobHistory Yes\n", c.Addr)
	filesConf, cupsdConf := filepath.Join(d, "cups-files.conf"), filepath.Join(d, "cupsd.conf")
	if err := os.WriteFile(filesConf, []byte(files), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(cupsdConf, []byte(conf.String()), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(bin, "-t", "-c", cupsdConf, "-s", filesConf).CombinedOutput(); err != nil {
		return fmt.Errorf("cupsd -t: %v: %s", err, out)
	}

	out := &Buffer{}
	cmd := exec.Command(bin, "-f", "-c", cupsdConf, "-s", filesConf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for !httpAnswers("http://" + c.Addr + "/") {
		select {
		case err := <-done:
			return fmt.Errorf("exited (%v): %s\n%s", err, out.String(), c.ErrorLog())
		case <-deadline:
			stop(cmd, done)
			return fmt.Errorf("no answer within 15 s: %s\n%s", out.String(), c.ErrorLog())
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.cmd, c.done = cmd, done
	t.Cleanup(func() {
		// cupsd takes 1-3 s to exit after SIGTERM; stop waits up to 5 s.
		stop(cmd, done)
		if t.Failed() {
			t.Logf("cupsd output:\n%s\nerror_log (tail):\n%s", out.String(), c.ErrorLog())
		}
	})
	return nil
}

// httpAnswers reports whether an HTTP server answers url at all.
func httpAnswers(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// ErrorLog returns the last 8 KiB of cupsd's error_log.
// env is the environment of CUPS's command-line tools for this cupsd:
// lpadmin as root authenticates with the certificate in its state dir.
func (c *CUPSD) env() []string {
	return append(os.Environ(), "CUPS_STATEDIR="+filepath.Join(c.Dir, "state"))
}

// AddQueue adds an enabled queue name printing to deviceURI, with more
// lpadmin arguments (e.g. "-m", "everywhere").
func (c *CUPSD) AddQueue(t testing.TB, name, deviceURI string, args ...string) {
	t.Helper()
	cmd := exec.Command(Require(t, "lpadmin"), append([]string{"-h", c.Addr, "-p", name, "-E", "-v", deviceURI}, args...)...)
	cmd.Env = c.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lpadmin %s: %v: %s\n%s", name, err, out, c.ErrorLog())
	}
}

func (c *CUPSD) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "log", "error_log"))
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

var requestID = regexp.MustCompile(`request id is \S+-(\d+)`)

// Submit prints file to the held queue as user, held indefinitely, as a
// workstation would with lp, and returns the CUPS job id.
func (c *CUPSD) Submit(t testing.TB, user, file string) int {
	t.Helper()
	lp := Require(t, "lp")
	out, err := exec.Command(lp, "-h", c.Addr, "-d", c.Queue, "-o", "job-hold-until=indefinite", "-U", user, file).CombinedOutput()
	if err != nil {
		t.Fatalf("lp -U %s %s: %v: %s", user, file, err, out)
	}
	m := requestID.FindSubmatch(out)
	if m == nil {
		t.Fatalf("lp printed no request id: %s", out)
	}
	id, _ := strconv.Atoi(string(m[1]))
	return id
}

// submitGzipTest is an ipptool test: Print-Job with the document sent
// gzip-compressed, held. ($user is an ipptool built-in that -d cannot
// override, hence $owner.)
const submitGzipTest = `{
  NAME "Print-Job (gzip, held)"
  OPERATION Print-Job
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR name requesting-user-name $owner
  ATTR mimeMediaType document-format $format
  ATTR keyword compression gzip
  GROUP job-attributes-tag
  ATTR keyword job-hold-until indefinite
  COMPRESSION gzip
  FILE $filename
  STATUS successful-ok
  EXPECT job-id OF-TYPE integer
}
`

var ipptoolJobID = regexp.MustCompile(`job-id \(integer\) = (\d+)`)

// SubmitGzip prints file (of MIME type format) as user with
// compression=gzip, which cupsd stores compressed as it came; it needs
// ipptool.
func (c *CUPSD) SubmitGzip(t testing.TB, user, file, format string) int {
	t.Helper()
	ipptool := Require(t, "ipptool")
	test := filepath.Join(t.TempDir(), "submit-gzip.test")
	if err := os.WriteFile(test, []byte(submitGzipTest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ipptool, "-tv", "-f", file, "-d", "owner="+user, "-d", "format="+format, c.URL, test).CombinedOutput()
	if err != nil {
		t.Fatalf("ipptool Print-Job (gzip): %v: %s", err, out)
	}
	m := ipptoolJobID.FindSubmatch(out)
	if m == nil {
		t.Fatalf("ipptool printed no job-id: %s", out)
	}
	id, _ := strconv.Atoi(string(m[1]))
	return id
}

// testUserPrefix names the throwaway system users of the Basic variant;
// each one's comment field holds the PID of the test process that made it.
const testUserPrefix = "tessera-op-"

// addSystemUser creates a system user in the lpadmin group (CUPS's
// SystemGroup here) with a random password, removed when the test ends;
// users left behind by test processes that died are removed first.
func addSystemUser(t testing.TB) (name, password string) {
	t.Helper()
	useradd := Require(t, "useradd")
	chpasswd := Require(t, "chpasswd")
	userdel := Require(t, "userdel")
	if out, err := exec.Command("getent", "group", "lpadmin").CombinedOutput(); err != nil {
		Unavailable(t, "the lpadmin group is missing (cups-daemon creates it): %v: %s", err, out)
	}
	removeStaleUsers(userdel)

	name, password = testUserPrefix+randomHex(4), randomHex(16)
	comment := "tessera test pid " + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(useradd, "-M", "-N", "-G", "lpadmin", "-s", "/usr/sbin/nologin", "-c", comment, name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(userdel, name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	cmd := exec.Command(chpasswd)
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd %s: %v: %s", name, err, out)
	}
	return name, password
}

func removeStaleUsers(userdel string) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 5 || !strings.HasPrefix(f[0], testUserPrefix) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(f[4], "tessera test pid "))
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			exec.Command(userdel, f[0]).Run()
		}
	}
}
