package e2e

import (
	"bufio"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// bigDocument writes a PDF of about size bytes: a real 3-page PDF followed
// by comment lines, which PDF readers skip after %%EOF.
func bigDocument(b *testing.B, size int64) string {
	b.Helper()
	doc := readDocument(b)
	path := filepath.Join(b.TempDir(), "big.pdf")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.Write(doc)
	line := []byte("% " + strings.Repeat("padding ", 15) + "\n")
	for n := int64(len(doc)); n < size; n += int64(len(line)) {
		_, _ = w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return path
}

// uploadFile streams a file to the hub as a job of owner.
func (h *hub) uploadFile(b *testing.B, owner, path string) string {
	b.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("owner", owner)
		_ = mw.WriteField("name", filepath.Base(path))
		_ = mw.WriteField("pages", "3")
		fw, _ := mw.CreateFormFile("file", filepath.Base(path))
		f, err := os.Open(path)
		if err == nil {
			_, err = io.Copy(fw, f)
			f.Close()
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	var out struct{ ID string }
	if code := h.admin(b, "POST", "/api/v1/jobs", pr, mw.FormDataContentType(), &out); code != http.StatusCreated {
		b.Fatalf("upload: HTTP %d", code)
	}
	return out.ID
}

// peakRSS is a process's high-water resident set size in bytes.
func peakRSS(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) * 1024
		}
	}
	return 0
}

// BenchmarkRelease1GiB: releasing a 1 GiB document from the hub through the
// agent to ippeveprinter, until the printer reports it completed, against
// its peer in the same run: ipptool sending the same file straight to the
// same printer and waiting for completion (print-job-and-wait.test). The
// agent's peak RSS is reported as peak-rss-MB.
func BenchmarkRelease1GiB(b *testing.B) {
	testenv.StartDNSSD(b)
	printer := testenv.StartIPPEveprinter(b)
	ipptool := testenv.Require(b, "ipptool")
	path := bigDocument(b, 1<<30)
	bin := build(b)
	h := startHub(b, bin, b.TempDir(), "", "--max-upload", strconv.Itoa(2<<30))
	h.createUser(b, "bench", cardNum)
	clean := func() {
		files, _ := filepath.Glob(filepath.Join(printer.Spool, "*"))
		for _, f := range files {
			_ = os.Remove(f)
		}
	}

	b.Run("agent", func(b *testing.B) {
		a := startAgent(b, bin, b.TempDir(), h.url, printer.URI, "", "")
		a.waitSession(b, "online", func(v sessionView) error {
			if v.Cloud != "online" {
				return fmt.Errorf("cloud %q", v.Cloud)
			}
			return nil
		})
		for b.Loop() {
			b.StopTimer()
			clean()
			id := "hub:" + h.uploadFile(b, "bench", path)
			a.post(b, "/api/v1/logout", "")
			a.swipe(b, rawCard)
			a.waitSession(b, "listed", func(v sessionView) error {
				if jobState(v, id) != "held" {
					return fmt.Errorf("%+v", v.Jobs)
				}
				return nil
			})
			b.StartTimer()
			if code, body := a.release(b, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
				b.Fatalf("release: %d %v", code, body)
			}
			for jobState(a.session(b), id) != "printed" {
				time.Sleep(20 * time.Millisecond)
			}
		}
		b.ReportMetric(peakRSS(b, a.cmd.Process.Pid)/(1<<20), "peak-rss-MB")
	})

	b.Run("ipptool", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			clean()
			b.StartTimer()
			out, err := exec.Command(ipptool, "-q", "-f", path, printer.URI, "/usr/share/cups/ipptool/print-job-and-wait.test").CombinedOutput()
			if err != nil {
				b.Fatalf("ipptool: %v\n%s", err, out)
			}
		}
	})
}

// tap is a TCP proxy in front of the printer that notes when the first
// byte after arm() reaches it.
type tap struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	armed  bool
	first  chan time.Time
}

func startTap(b *testing.B, target string) *tap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	t := &tap{ln: ln, target: target, first: make(chan time.Time, 1)}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go t.serve(c)
		}
	}()
	return t
}

func (t *tap) arm() {
	t.mu.Lock()
	t.armed = true
	t.mu.Unlock()
}

func (t *tap) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", t.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up) }()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			t.mu.Lock()
			if t.armed {
				t.armed = false
				t.first <- time.Now()
			}
			t.mu.Unlock()
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// BenchmarkReleaseFirstByte: from the release call to the first byte
// reaching the printer (at a TCP tap in front of it) for a 1 MB hub job,
// reported as ms-to-first-byte (ns/op is the whole release, to printed).
func BenchmarkReleaseFirstByte(b *testing.B) {
	testenv.StartDNSSD(b)
	printer := testenv.StartIPPEveprinter(b)
	tp := startTap(b, fmt.Sprintf("localhost:%d", printer.Port))
	path := bigDocument(b, 1<<20)
	bin := build(b)
	h := startHub(b, bin, b.TempDir(), "")
	h.createUser(b, "tap", cardNum)
	uri := strings.Replace(printer.URI, fmt.Sprintf("localhost:%d", printer.Port), tp.ln.Addr().String(), 1)
	// A long session, so the benchmark does not wait out logouts.
	cfgFile := filepath.Join(b.TempDir(), "tessera.json")
	if err := os.WriteFile(cfgFile, []byte(`{"session_timeout":"1h"}`), 0o600); err != nil {
		b.Fatal(err)
	}
	a := startAgent(b, bin, b.TempDir(), h.url, uri, "", "", "--config", cfgFile)
	a.waitSession(b, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	a.swipe(b, rawCard)
	a.waitSession(b, "logged in", func(v sessionView) error {
		if v.State != "active" {
			return fmt.Errorf("state %q", v.State)
		}
		return nil
	})
	var waits []time.Duration
	for b.Loop() {
		b.StopTimer()
		id := "hub:" + h.uploadFile(b, "tap", path)
		// The session stays open: the new job appears on a refresh.
		a.post(b, "/api/v1/refresh", "")
		a.waitSession(b, "listed", func(v sessionView) error {
			if jobState(v, id) != "held" {
				return fmt.Errorf("%+v", v.Jobs)
			}
			return nil
		})
		tp.arm()
		b.StartTimer()
		start := time.Now()
		if code, body := a.release(b, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
			b.Fatalf("release: %d %v", code, body)
		}
		first := <-tp.first
		waits = append(waits, first.Sub(start))
		// Timed to the end of the print, so b.Loop runs a handful of
		// iterations; the figure asked for is ms-to-first-byte.
		for jobState(a.session(b), id) != "printed" {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The median of this run's releases; make bench then takes the
	// median over its runs.
	slices.Sort(waits)
	b.ReportMetric(float64(waits[len(waits)/2].Microseconds())/1000, "ms-to-first-byte")
}
