package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// The fleet simulator (cmd/tessera-fleetsim) against the real hub binary:
// a smoke test here, in make test, so the simulator does not rot; the
// figures at 1,000 and 15,000 agents are bench_fleet_test.go's.

// fleetHub is a real hub for the fleet, over http or https.
type fleetHub struct {
	*proc
	url, addr, dir string
	args           []string
	client         *http.Client // trusts the hub's certificate
	ca             string       // the CA's PEM file for the simulator ("" over http)
}

// startFleetHub starts the hub on dir (open enrollment, loopback), with
// TLS from a test CA when tlsOn, and waits until it answers.
func startFleetHub(t testing.TB, hubBin, dir string, tlsOn bool, extra ...string) *fleetHub {
	t.Helper()
	h := &fleetHub{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), dir: dir, client: &http.Client{Timeout: 30 * time.Second}}
	h.args = append([]string{"serve", "--listen", h.addr, "--data", dir, "--open-enrollment"}, extra...)
	h.url = "http://" + h.addr
	if tlsOn {
		certFile, keyFile, caFile, pool := fleetCerts(t, t.TempDir()) // not in dir: the hub keeps its own hub.key there
		h.args = append(h.args, "--tls-cert", certFile, "--tls-key", keyFile)
		h.url, h.ca = "https://"+h.addr, caFile
		h.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	h.start(t, hubBin)
	return h
}

// start runs the hub binary on h's arguments and waits for /healthz.
func (h *fleetHub) start(t testing.TB, hubBin string) {
	t.Helper()
	h.proc = start(t, "hub", []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, hubBin, h.args...)
	testutil.WaitErr(t, 60*time.Second, "hub healthy", func() error {
		resp, err := h.client.Get(h.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
}

// call makes an admin API call and decodes the answer into out.
func (h *fleetHub) call(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return resp.StatusCode, nil
}

// taskCounts counts the hub's tasks in each state (paging through them).
func (h *fleetHub) taskCounts() (map[string]int, error) {
	counts := map[string]int{}
	cursor := ""
	for {
		var page struct {
			Tasks []struct {
				State string `json:"state"`
			} `json:"tasks"`
			Next *string `json:"next"`
		}
		path := "/api/v1/tasks?limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if code, err := h.call("GET", path, nil, &page); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("list tasks: HTTP %d %v", code, err)
		}
		for _, tk := range page.Tasks {
			counts[tk.State]++
		}
		if page.Next == nil {
			return counts, nil
		}
		cursor = *page.Next
	}
}

// unfinished reports whether any task is pending or in progress: two
// one-row listings, cheap at any fleet size.
func (h *fleetHub) unfinished() (bool, error) {
	for _, st := range []string{"pending", "in-progress"} {
		var page struct {
			Tasks []json.RawMessage `json:"tasks"`
		}
		if code, err := h.call("GET", "/api/v1/tasks?limit=1&state="+st, nil, &page); err != nil || code != http.StatusOK {
			return false, fmt.Errorf("list %s tasks: HTTP %d %v", st, code, err)
		}
		if len(page.Tasks) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// fleetCerts writes a test CA and a server certificate for 127.0.0.1
// signed by it into dir.
func fleetCerts(t testing.TB, dir string) (certFile, keyFile, caFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile, caFile = filepath.Join(dir, "hub.pem"), filepath.Join(dir, "hub.key"), filepath.Join(dir, "ca.pem")
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}, caFile: {Type: "CERTIFICATE", Bytes: caDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return certFile, keyFile, caFile, pool
}

// fleetSim is a running tessera-fleetsim: its JSON lines by kind.
type fleetSim struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	last  map[string]map[string]any // the last line of each kind
	seen  map[string]int            // lines of each kind so far
	news  chan struct{}             // closed (and replaced) at each line
	done  chan struct{}
}

// startFleetSim runs the simulator with args; it is stopped (SIGTERM) at
// the end of the test if still running.
func startFleetSim(t testing.TB, bin string, args ...string) *fleetSim {
	t.Helper()
	s := &fleetSim{cmd: exec.Command(bin, args...), last: map[string]map[string]any{}, seen: map[string]int{},
		news: make(chan struct{}), done: make(chan struct{})}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start fleetsim: %v", err)
	}
	go s.read(out)
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *fleetSim) read(out io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var v map[string]any
		if json.Unmarshal(sc.Bytes(), &v) != nil {
			continue
		}
		kind, _ := v["kind"].(string)
		s.mu.Lock()
		s.last[kind] = v
		s.seen[kind]++
		close(s.news)
		s.news = make(chan struct{})
		s.mu.Unlock()
	}
	_ = s.cmd.Wait()
}

// line is the last line of kind and how many of that kind came so far.
func (s *fleetSim) line(kind string) (map[string]any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[kind], s.seen[kind]
}

// wait waits up to limit for the n-th line of kind, woken by each line;
// nil if it did not come or the simulator ended first. (Not
// testutil.WaitFor: a benchmark reports what it got rather than failing.)
func (s *fleetSim) wait(kind string, n int, limit time.Duration) map[string]any {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		s.mu.Lock()
		v, seen, news := s.last[kind], s.seen[kind], s.news
		s.mu.Unlock()
		if seen >= n {
			return v
		}
		select {
		case <-news:
		case <-s.done:
			if v, seen := s.line(kind); seen >= n {
				return v
			}
			return nil
		case <-timer.C:
			return nil
		}
	}
}

// mark tells the simulator the hub (or a node) is killed now.
func (s *fleetSim) mark() error {
	return s.command(fmt.Sprintf("mark %d", time.Now().UnixMilli()))
}

// command writes one command line to the simulator ("mark", "shed N").
func (s *fleetSim) command(line string) error {
	_, err := fmt.Fprintln(s.stdin, line)
	return err
}

// stop ends the simulator (SIGTERM) and waits for its final line.
func (s *fleetSim) stop() map[string]any {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	v, _ := s.line("final")
	return v
}

func num(v map[string]any, key string) float64 {
	f, _ := v[key].(float64)
	return f
}

// TestFleetSmoke: 50 simulated agents against the real hub over ws boot,
// send their meter read, beat, complete a task fanned out to all, and
// come back after the hub is killed and restarted.
func TestFleetSmoke(t *testing.T) {
	hubBin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-hub")
	simBin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-fleetsim")
	h := startFleetHub(t, hubBin, t.TempDir(), false, "--heartbeat", "1s")
	const n = 50
	sim := startFleetSim(t, simBin, "--hub", h.url, "--agents", fmt.Sprint(n), "--procs", "2")
	connected := sim.wait("connected", 1, 60*time.Second)
	if connected == nil {
		t.Fatalf("the %d agents did not all connect: %v", n, sim.stop())
	}
	var created struct {
		IDs []string `json:"ids"`
	}
	code, err := h.call("POST", "/api/v1/tasks", map[string]any{"all": true, "type": "test-connection", "payload": map[string]any{}}, &created)
	if err != nil || code != http.StatusCreated || len(created.IDs) != n {
		t.Fatalf("fan out: HTTP %d, %d ids, %v", code, len(created.IDs), err)
	}
	testutil.WaitErr(t, 60*time.Second, "every task ended", func() error {
		busy, err := h.unfinished()
		if err == nil && busy {
			err = fmt.Errorf("tasks still pending or in progress")
		}
		return err
	})
	counts, err := h.taskCounts()
	if err != nil || counts["completed"] != n {
		t.Errorf("tasks by state %v (%v), want %d completed", counts, err, n)
	}
	testutil.WaitFor(t, 30*time.Second, "a heartbeat from each agent", func() bool {
		p, _ := sim.line("progress")
		return num(p, "beats") >= n && num(p, "meters") >= n
	})
	// The hub killed and started again on its data: every agent comes back
	// with the device token it was given, and the simulator says so.
	if err := sim.mark(); err != nil {
		t.Fatal(err)
	}
	h.kill(syscall.SIGKILL)
	h.start(t, hubBin)
	r := sim.wait("reconnect", 1, 90*time.Second)
	if r == nil || r["all_connected"] != true || num(r, "reconnected") != n {
		t.Errorf("after the hub's restart: %v, want all %d agents back", r, n)
	}
	final := sim.stop()
	if num(final, "meters") != n || num(final, "tasks") != n || num(final, "lost") != 0 || num(final, "connected_once") != n {
		t.Errorf("simulator's final line %v: want %d meter reads, %d tasks, none lost, %d connected", final, n, n, n)
	}
}
