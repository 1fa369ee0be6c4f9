package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
)

const adminToken = "e2e-admin-token-0123456789abcdef"

// proc is a started binary whose output is kept for failure messages.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.Output())
		}
	})
	return p
}

// stop sends sig and waits for the process to end.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

type binaries struct{ agent, hub string }

func build(t testing.TB) binaries {
	return binaries{
		agent: testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera"),
		hub:   testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-hub"),
	}
}

// hub is a running tessera-hub.
type hub struct {
	*proc
	url, addr, dir string
	// client calls the admin API (nil: http.DefaultClient; a hub served
	// over TLS with a test CA sets one that trusts it).
	client *http.Client
}

func startHub(t testing.TB, bin binaries, dir, addr string, extra ...string) *hub {
	t.Helper()
	if addr == "" {
		addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	args := append([]string{"serve", "--listen", addr, "--data", dir, "--open-enrollment"}, extra...)
	p := start(t, "hub", []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, bin.hub, args...)
	h := &hub{proc: p, url: "http://" + addr, addr: addr, dir: dir}
	testutil.WaitErr(t, 20*time.Second, "hub healthy", func() error { return getOK(h.url + "/healthz") })
	return h
}

func getOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// admin calls the hub's admin API and decodes the answer into out.
func (h *hub) admin(t testing.TB, method, path string, body io.Reader, ctype string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	c := h.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func (h *hub) createUser(t testing.TB, username string, cards ...string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"username": username, "full_name": strings.ToUpper(username[:1]) + username[1:], "cards": cards})
	if code := h.admin(t, "POST", "/api/v1/users", bytes.NewReader(body), "application/json", nil); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create user %s: HTTP %d", username, code)
	}
}

func (h *hub) upload(t testing.TB, owner, name string, doc []byte) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("owner", owner)
	_ = mw.WriteField("name", name)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(doc)
	_ = mw.Close()
	var out struct{ ID string }
	if code := h.admin(t, "POST", "/api/v1/jobs", &buf, mw.FormDataContentType(), &out); code != http.StatusCreated || out.ID == "" {
		t.Fatalf("upload %s: HTTP %d id %q", name, code, out.ID)
	}
	return out.ID
}

type hubJob struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	Name         string `json:"name"`
	Pages        int    `json:"pages"`
	State        string `json:"state"`
	Reason       string `json:"reason"`
	PrintedPages int    `json:"printed_pages"`
}

func (h *hub) job(t testing.TB, owner, id string) hubJob {
	t.Helper()
	var out struct{ Jobs []hubJob }
	h.admin(t, "GET", "/api/v1/jobs?limit=500&owner="+owner, nil, "", &out)
	for _, j := range out.Jobs {
		if j.ID == id {
			return j
		}
	}
	t.Fatalf("job %s of %s not listed by the hub", id, owner)
	return hubJob{}
}

type hubRecord struct {
	ID      string `json:"id"`
	Owner   string `json:"owner"`
	JobID   string `json:"job_id"`
	Pages   int    `json:"pages"`
	Type    string `json:"type"`
	Offline bool   `json:"offline"`
}

func (h *hub) records(t testing.TB, owner string) []hubRecord {
	t.Helper()
	var out struct{ Records []hubRecord }
	h.admin(t, "GET", "/api/v1/accounting?limit=500&owner="+owner, nil, "", &out)
	return out.Records
}

// agent is a running tessera agent.
type agent struct {
	*proc
	panel, reader, dir string
}

func startAgent(t testing.TB, bin binaries, dir, hubURL, printerURI, panelAddr, readerAddr string, extra ...string) *agent {
	t.Helper()
	return startAgentEnv(t, bin, nil, dir, hubURL, printerURI, panelAddr, readerAddr, extra...)
}

// startAgentEnv is startAgent with env added to the agent's environment
// (HTTPS_PROXY, NO_PROXY).
func startAgentEnv(t testing.TB, bin binaries, env []string, dir, hubURL, printerURI, panelAddr, readerAddr string, extra ...string) *agent {
	t.Helper()
	if panelAddr == "" {
		panelAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	if readerAddr == "" {
		readerAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	cfg, extra := agentConfig(t, extra)
	args := append([]string{"run", "--config", cfg, "--data", dir, "--hub", hubURL, "--printer", printerURI,
		"--reader", "tcp-listen://" + readerAddr, "--card-pipeline", "hex2dec", "--panel-listen", panelAddr,
		"--log-level", "debug"}, extra...)
	p := start(t, "agent", env, bin.agent, args...)
	a := &agent{proc: p, panel: "http://" + panelAddr, reader: readerAddr, dir: dir}
	testutil.WaitErr(t, 20*time.Second, "agent healthy", func() error { return getOK(a.panel + "/healthz") })
	return a
}

// agentConfig writes the agent's config file: the test's own (a --config
// in extra, taken out of it) with the harness's defaults for the keys it
// leaves out. Debounce off: tests swipe the same card again at once and
// must not wait out the 2 s window a badge left on a reader needs. No wait
// after a wrong secret: the lock itself still counts (unit tests cover the
// doubling delays).
func agentConfig(t testing.TB, extra []string) (string, []string) {
	t.Helper()
	keys := map[string]any{}
	var rest []string
	for i := 0; i < len(extra); i++ {
		if extra[i] != "--config" || i+1 == len(extra) {
			rest = append(rest, extra[i])
			continue
		}
		data, err := os.ReadFile(extra[i+1])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &keys); err != nil {
			t.Fatalf("config %s: %v", extra[i+1], err)
		}
		i++
	}
	// reconnect_max 30 s: a test that stops the hub for long waits at most
	// that for the agent to come back (the default, 5 min, suits a fleet).
	for k, v := range map[string]any{"debounce": "0s", "lockout_delay": "0s", "reconnect_max": "30s", "media_roots": []string{}} {
		if _, ok := keys[k]; !ok {
			keys[k] = v
		}
	}
	data, _ := json.Marshal(keys)
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, rest
}

type sessionJob struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Pages  int    `json:"pages"`
	Source string `json:"source"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

type sessionView struct {
	State string `json:"state"`
	User  *struct {
		Username string `json:"username"`
	} `json:"user"`
	Jobs   []sessionJob `json:"jobs"`
	Notice *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"notice"`
	Cloud          string `json:"cloud"`
	OfflineMode    bool   `json:"offline_mode"`
	OfflineSession bool   `json:"offline_session"`
	ExpiresInMS    *int64 `json:"expires_in_ms"`
	// Enrollment is the claim code an unenrolled agent shows; QR the
	// address of the hub's QR sign-in page (login mode qr).
	Enrollment *struct {
		Code string `json:"code"`
		Hub  string `json:"hub"`
	} `json:"enrollment"`
	QR *struct {
		URL string `json:"url"`
	} `json:"qr"`
}

func (a *agent) session(t testing.TB) sessionView {
	t.Helper()
	resp, err := http.Get(a.panel + "/api/v1/session")
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer resp.Body.Close()
	var v sessionView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("session: %v", err)
	}
	return v
}

func (a *agent) waitSession(t testing.TB, what string, f func(sessionView) error) sessionView {
	t.Helper()
	var v sessionView
	testutil.WaitErr(t, 30*time.Second, what, func() error { v = a.session(t); return f(v) })
	return v
}

// swipe sends one card read to the agent's network reader, as a reader would.
func (a *agent) swipe(t testing.TB, raw string) {
	t.Helper()
	var c net.Conn
	testutil.WaitErr(t, 10*time.Second, "reader accepts", func() error {
		var err error
		c, err = net.Dial("tcp", a.reader)
		return err
	})
	defer c.Close()
	if _, err := fmt.Fprintf(c, "%s\n", raw); err != nil {
		t.Fatalf("swipe: %v", err)
	}
	// Give the agent the line before the client goes away.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _ = bufio.NewReader(c).ReadString('\n')
}

// release posts a release request and returns the status and the body.
func (a *agent) release(t testing.TB, body string) (int, map[string]any) {
	t.Helper()
	return a.post(t, "/api/v1/release", body)
}

// post sends a panel request and returns the status and the decoded body.
func (a *agent) post(t testing.TB, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(a.panel+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func jobState(v sessionView, id string) string {
	for _, j := range v.Jobs {
		if j.ID == id {
			return j.State
		}
	}
	return ""
}

// startCUPSAgent starts an agent releasing from the CUPS queue at cupsURL
// (extra: more flags), waits until it is online, swipes the card and waits
// until the session lists the CUPS job id as held.
func startCUPSAgent(t testing.TB, bin binaries, dir, hubURL, printerURI, cupsURL, id string, extra ...string) *agent {
	t.Helper()
	a := startAgent(t, bin, dir, hubURL, printerURI, "", "", append(extra, "--cups", cupsURL)...)
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	a.swipe(t, rawCard)
	a.waitSession(t, "the CUPS job is listed", func(v sessionView) error {
		if jobState(v, id) != "held" {
			return fmt.Errorf("%+v", v.Jobs)
		}
		return nil
	})
	return a
}

// releaseOnce releases job id and checks the whole outcome: printed in the
// session, the printer kept exactly the document, the hub holds one record
// of its 3 pages for owner.
func releaseOnce(t *testing.T, a *agent, h *hub, printer *testenv.IPPEve, id, owner string, doc []byte) {
	t.Helper()
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	var kept []string
	testutil.WaitErr(t, 10*time.Second, "kept by the printer", func() error {
		kept, _ = filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
		if len(kept) != 1 {
			return fmt.Errorf("%v", kept)
		}
		return nil
	})
	if got, _ := os.ReadFile(kept[0]); !bytes.Equal(got, doc) {
		t.Fatal("the printed document differs from the one submitted")
	}
	testutil.WaitErr(t, 15*time.Second, "one record at the hub", func() error {
		recs := h.records(t, owner)
		if len(recs) != 1 || recs[0].JobID != id || recs[0].Pages != 3 {
			return fmt.Errorf("%+v", recs)
		}
		return nil
	})
}

// readDocument returns the bytes of the test PDF (3 pages).
func readDocument(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile(document)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// openLedger opens the store of an agent that has stopped, to check its
// ledger and outbox; it is closed when the test ends.
func openLedger(t testing.TB, agentDir string) *offline.Store {
	t.Helper()
	store, err := offline.Open(context.Background(), filepath.Join(agentDir, "tessera.db"),
		offline.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// stopAgent stops the agent with SIGTERM and requires a clean exit.
func stopAgent(t testing.TB, a *agent) {
	t.Helper()
	a.kill(syscall.SIGTERM)
	if a.exitCode() != 0 {
		t.Fatalf("agent exit code %d after SIGTERM", a.exitCode())
	}
}

// checkLedgerHolds requires the stopped agent's ledger to hold exactly the
// record recID of pages impressions for job id, and its outbox to be empty
// (the hub acknowledged everything).
func checkLedgerHolds(t testing.TB, agentDir, id, recID string, pages int) {
	t.Helper()
	store := openLedger(t, agentDir)
	recs, err := store.RecordsForJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != recID || recs[0].Pages != pages {
		t.Fatalf("agent ledger %+v, want one record %s of %d pages", recs, recID, pages)
	}
	if st, err := store.OutboxStats(context.Background()); err != nil || st.Pending != 0 {
		t.Fatalf("outbox: %+v %v, want empty", st, err)
	}
}
