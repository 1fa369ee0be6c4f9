package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// Tinyproxy is a real HTTP CONNECT proxy (RECIPES.md §4) on a loopback
// port, for as long as the test runs.
type Tinyproxy struct {
	// URL is the proxy's address, without credentials.
	URL     *url.URL
	logPath string
}

// Log returns what the proxy logged so far (its CONNECT lines name the
// targets).
func (p *Tinyproxy) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// StartTinyproxy starts tinyproxy, asking for Basic credentials ("USER
// PASSWORD", tinyproxy's BasicAuth) unless basicAuth is empty.
func StartTinyproxy(t testing.TB, basicAuth string) *Tinyproxy {
	t.Helper()
	bin := Require(t, "tinyproxy")
	port := FreePort(t)
	dir := t.TempDir()
	var conf strings.Builder
	if os.Geteuid() == 0 {
		// As root it must drop to someone; as anyone else it cannot.
		conf.WriteString("User nobody\nGroup nogroup\n")
	}
	// No ConnectPort lines: one would restrict CONNECT to that port only.
	fmt.Fprintf(&conf, "Port %d\nListen 127.0.0.1\nTimeout 600\nMaxClients 50\nLogLevel Info\nAllow 127.0.0.1\nAllow ::1\nDisableViaHeader Yes\n", port)
	if basicAuth != "" {
		fmt.Fprintf(&conf, "BasicAuth %s\n", basicAuth)
	}
	confPath := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Tinyproxy{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}, logPath: filepath.Join(dir, "tinyproxy.log")}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tinyproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("tinyproxy log:\n%s", p.Log())
		}
	})
	testutil.WaitErr(t, 5*time.Second, "tinyproxy to listen on "+p.URL.Host, func() error {
		c, err := net.DialTimeout("tcp", p.URL.Host, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			t.Fatalf("tinyproxy exited:\n%s", p.Log())
		default:
		}
		return err
	})
	return p
}
