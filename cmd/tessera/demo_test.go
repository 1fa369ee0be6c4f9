package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestDemo runs `tessera demo` as `make demo` does and follows the banner it
// prints, as a person would: upload with the printed curl line, type the
// printed card, release from the panel, find the page in the printed folder,
// Ctrl-C. Everything the test uses is parsed from the banner, so the test
// also checks that the banner tells the truth.
func TestDemo(t *testing.T) {
	agentBin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera")
	hubBin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-hub")
	// The demo picks free ports itself; --dir keeps its files in the test's
	// folder, so parallel test binaries never share one.
	dir := t.TempDir()

	var stdout, stderr testenv.Buffer
	cmd := exec.Command(agentBin, "demo", "--hub-bin", hubBin, "--dir", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A hub left behind would hold the stderr pipe open; Wait must not hang on it.
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start demo: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	var children []proc // the demo's descendants, once known
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		// Whatever the demo left behind was started by this test: end it.
		for _, c := range children {
			if c.running() {
				_ = syscall.Kill(c.pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", stdout.String(), stderr.String())
		}
	})

	// The banner comes once the hub, the printer and the agent are up.
	const bannerEnd = "Ctrl-C stops everything."
	testutil.WaitErr(t, 60*time.Second, "the demo's banner", untilExit(t, done, func() error {
		if !strings.Contains(stdout.String(), bannerEnd) {
			return errors.New("not printed yet")
		}
		return nil
	}))
	b, err := parseBanner(stdout.String())
	if err != nil {
		t.Fatalf("banner: %v\n%s", err, stdout.String())
	}

	children = descendants(cmd.Process.Pid)
	if !slices.ContainsFunc(children, func(p proc) bool { return p.exe == hubBin }) {
		t.Fatalf("no tessera-hub (%s) among the demo's child processes %+v", hubBin, children)
	}

	// 1. Submit a job with the printed curl line.
	jobID := b.submit(t)

	// 2. The typed swipe.
	if _, err := io.WriteString(stdin, b.card+"\n"); err != nil {
		t.Fatalf("type the card: %v", err)
	}
	testutil.WaitErr(t, 60*time.Second, "an active session with the job", untilExit(t, done, func() error {
		var s struct {
			State string
			Jobs  []struct{ ID string }
		}
		if err := getJSON(b.panel+"/api/v1/session", &s); err != nil {
			return err
		}
		if s.State != "active" {
			return fmt.Errorf("session %s", s.State)
		}
		for _, j := range s.Jobs {
			if j.ID == "hub:"+jobID {
				return nil
			}
		}
		return fmt.Errorf("job hub:%s not among %+v", jobID, s.Jobs)
	}))

	// 3. Release all, as the printed line says.
	resp, err := http.Post(b.releaseURL, "application/json", strings.NewReader(b.releaseBody))
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("release: %s %s", resp.Status, body)
	}

	// 4. The document lands in the printed folder, byte for byte.
	want, err := os.ReadFile(b.file)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitErr(t, 60*time.Second, "the printed document", untilExit(t, done, func() error {
		entries, err := os.ReadDir(b.printed)
		if err != nil {
			return err
		}
		for _, e := range entries {
			// Dot files are documents still being received.
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if got, err := os.ReadFile(filepath.Join(b.printed, e.Name())); err == nil && bytes.Equal(got, want) {
				return nil
			}
		}
		return fmt.Errorf("not among %d files in %s", len(entries), b.printed)
	}))

	// 5. Ctrl-C: the demo stops, and its hub with it.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the demo did not exit within 60 s of SIGINT")
	}
	if waitErr != nil {
		t.Errorf("the demo ended with %v after SIGINT, want exit status 0", waitErr)
	}
	for _, c := range children {
		if c.running() {
			t.Errorf("process %d (%s) still runs after the demo exited", c.pid, c.exe)
		}
	}
}

// banner is what the demo's banner tells its user.
type banner struct {
	panel       string            // panel base URL
	uploadURL   string            // the curl line's URL
	tokenFile   string            // the curl line's $(cat FILE)
	fields      map[string]string // the curl line's -F fields but the file
	fileField   string            // the -F field holding @FILE
	file        string            // the document the curl line uploads
	card        string            // what to type for a swipe
	releaseURL  string            // the release line's URL
	releaseBody string            // the release line's -d body
	printed     string            // where printed documents land
}

var (
	panelRe   = regexp.MustCompile(`Panel:\s+(http://\S+?)/?\s`)
	curlRe    = regexp.MustCompile(`Submit a job:\s+curl -H "Authorization: Bearer \$\(cat (\S+)\)"((?: -F \S+)+) (http://\S+)`)
	formRe    = regexp.MustCompile(`-F (\w+)=(\S+)`)
	swipeRe   = regexp.MustCompile(`Swipe:\s+type (\S+) and Enter`)
	releaseRe = regexp.MustCompile(`Release all:\s+curl -X POST -d '([^']*)' (http://\S+)`)
	printedRe = regexp.MustCompile(`Printed pages land in (\S+)`)
)

func parseBanner(text string) (banner, error) {
	b := banner{fields: map[string]string{}}
	m := map[string][]string{}
	for name, re := range map[string]*regexp.Regexp{"panel": panelRe, "curl": curlRe, "swipe": swipeRe, "release": releaseRe, "printed": printedRe} {
		if m[name] = re.FindStringSubmatch(text); m[name] == nil {
			return b, fmt.Errorf("no %s line", name)
		}
	}
	b.panel = m["panel"][1]
	b.tokenFile, b.uploadURL = m["curl"][1], m["curl"][3]
	for _, f := range formRe.FindAllStringSubmatch(m["curl"][2], -1) {
		if path, ok := strings.CutPrefix(f[2], "@"); ok {
			b.fileField, b.file = f[1], path
		} else {
			b.fields[f[1]] = f[2]
		}
	}
	if b.file == "" {
		return b, errors.New("the curl line uploads no file")
	}
	b.card = m["swipe"][1]
	b.releaseBody, b.releaseURL = m["release"][1], m["release"][2]
	b.printed = m["printed"][1]
	return b, nil
}

// submit does what the banner's curl line does and returns the job's id.
func (b banner) submit(t *testing.T) string {
	t.Helper()
	token, err := os.ReadFile(b.tokenFile)
	if err != nil {
		t.Fatalf("the curl line's token: %v", err)
	}
	doc, err := os.ReadFile(b.file)
	if err != nil {
		t.Fatalf("the curl line's document: %v", err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range b.fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile(b.fileField, filepath.Base(b.file))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(doc)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, b.uploadURL, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &out) != nil || out.ID == "" {
		t.Fatalf("upload: %s %s", resp.Status, data)
	}
	return out.ID
}

func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, data)
	}
	return json.Unmarshal(data, out)
}

// untilExit wraps f for testutil.WaitErr so that the wait stops at once,
// with f's last error, when the demo exits first.
func untilExit(t *testing.T, exited <-chan struct{}, f func() error) func() error {
	return func() error {
		err := f()
		if err != nil {
			select {
			case <-exited:
				t.Fatalf("the demo exited first (last: %v)", err)
			default:
			}
		}
		return err
	}
}

// proc is a process seen in /proc. start (clock ticks since boot) tells it
// from a later process that reuses its pid.
type proc struct {
	pid   int
	start string
	exe   string
}

// statFields reads /proc/PID/stat after the command name, which may itself
// hold spaces and parentheses: fields[0] is the state, fields[1] the ppid,
// fields[19] the start time.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	return f, nil
}

// descendants lists the processes below pid, found through their parent
// pids (/proc/PID/task/*/children is not on every kernel).
func descendants(pid int) []proc {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	children := map[int][]proc{}
	for _, st := range stats {
		p, err := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(p) + "/exe")
		children[ppid] = append(children[ppid], proc{pid: p, start: f[19], exe: exe})
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// running reports whether the process still runs: neither gone, nor
// replaced by another under its pid, nor a zombie.
func (p proc) running() bool {
	f, err := statFields(p.pid)
	return err == nil && f[19] == p.start && f[0] != "Z"
}
