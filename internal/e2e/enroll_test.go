package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// Enrollment with the real binaries (issue 12 point 1): a hub WITHOUT
// --open-enrollment, agents that start with no identity.

// startClosedHub starts a hub that accepts only enrolled agents.
func startClosedHub(t *testing.T, bin binaries, extra ...string) *hub {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	args := append([]string{"serve", "--listen", addr, "--data", dir}, extra...)
	p := start(t, "hub", []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, bin.hub, args...)
	h := &hub{proc: p, url: "http://" + addr, addr: addr, dir: dir}
	testutil.WaitErr(t, 20*time.Second, "hub healthy", func() error { return getOK(h.url + "/healthz") })
	return h
}

// startNewAgent starts an agent with an empty data directory and a
// printer that does not answer (enrollment needs none).
func startNewAgent(t *testing.T, bin binaries, h *hub, dir string, extra ...string) *agent {
	t.Helper()
	printer := fmt.Sprintf("ipp://127.0.0.1:%d/ipp/print", testenv.FreePort(t))
	return startAgent(t, bin, dir, h.url, printer, "", "", extra...)
}

// listedAgent is an agent as GET /api/v1/agents shows it.
type listedAgent struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Connected bool   `json:"connected"`
	Name      string `json:"name"`
	Group     string `json:"group"`
}

func (h *hub) agents(t *testing.T) map[string]listedAgent {
	t.Helper()
	var resp struct {
		Agents []listedAgent `json:"agents"`
	}
	if code := h.admin(t, http.MethodGet, "/api/v1/agents", nil, "", &resp); code != http.StatusOK {
		t.Fatalf("GET /api/v1/agents: HTTP %d", code)
	}
	m := map[string]listedAgent{}
	for _, a := range resp.Agents {
		m[a.ID] = a
	}
	return m
}

// communicating waits until n agents of the hub are communicating and
// returns them.
func (h *hub) communicating(t *testing.T, n int) []listedAgent {
	t.Helper()
	var got []listedAgent
	testutil.WaitFor(t, 30*time.Second, fmt.Sprintf("%d agents communicating", n), func() bool {
		got = got[:0]
		for _, a := range h.agents(t) {
			if a.State == "communicating" && a.Connected {
				got = append(got, a)
			}
		}
		return len(got) == n
	})
	return got
}

// enrollmentCode creates an organisation code at the hub.
func (h *hub) enrollmentCode(t *testing.T, body string) (id, code string) {
	t.Helper()
	var resp struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	if st := h.admin(t, http.MethodPost, "/api/v1/enrollment-codes", strings.NewReader(body), "application/json", &resp); st != http.StatusCreated || resp.Code == "" {
		t.Fatalf("POST /api/v1/enrollment-codes %s: HTTP %d %+v", body, st, resp)
	}
	return resp.ID, resp.Code
}

// claimCode waits for the agent's panel to show a claim code.
func (a *agent) claimCode(t *testing.T) string {
	t.Helper()
	v := a.waitSession(t, "the panel shows a claim code", func(v sessionView) error {
		if v.Enrollment == nil || v.Enrollment.Code == "" {
			return fmt.Errorf("no enrollment in the session")
		}
		return nil
	})
	return v.Enrollment.Code
}

// checkSecretFile requires path to exist, mode 0600.
func checkSecretFile(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, m)
	}
}

// expireCode moves an organisation code's expiry into the past, in the
// hub's database, as the hub's clock would after expires_in_hours.
func expireCode(t *testing.T, h *hub, id string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.dir, "hub.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE enrollment_codes SET expires_at = ? WHERE id = ?`, time.Now().Add(-time.Minute).UnixNano(), id)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("expire code %s: %v (%d rows)", id, err, n)
	}
}

// TestEnrollOrganisationCode: an agent started with --enroll-code is
// enrolled at once and communicating; a second agent with the same code
// (one use, used up) and a third with an expired code are refused
// (invalid-code, logged without the code) and wait for a claim instead.
func TestEnrollOrganisationCode(t *testing.T) {
	bin := build(t)
	h := startClosedHub(t, bin)
	_, code := h.enrollmentCode(t, `{"uses": 1}`)

	dir := t.TempDir()
	a := startNewAgent(t, bin, h, dir, "--enroll-code", code)
	first := h.communicating(t, 1)[0]
	checkSecretFile(t, filepath.Join(dir, "device-token"))
	checkSecretFile(t, filepath.Join(dir, "enroll.key"))
	checkSecretFile(t, filepath.Join(dir, "identity.key"))
	if strings.Contains(a.Output(), code) {
		t.Errorf("the agent logged its enrollment code")
	}

	// Used up.
	b := startNewAgent(t, bin, h, t.TempDir(), "--enroll-code", code)
	b.claimCode(t)
	// Expired.
	expID, expired := h.enrollmentCode(t, `{"uses": 5}`)
	expireCode(t, h, expID)
	c := startNewAgent(t, bin, h, t.TempDir(), "--enroll-code", expired)
	c.claimCode(t)
	for name, p := range map[string]*agent{"used up": b, "expired": c} {
		out := p.Output()
		if !strings.Contains(out, "invalid-code") || strings.Contains(out, code) || strings.Contains(out, expired) {
			t.Errorf("%s: want invalid-code logged without the code:\n%s", name, out)
		}
	}
	if got := h.communicating(t, 1); got[0].ID != first.ID {
		t.Errorf("communicating: %+v, want only %s", got, first.ID)
	}
}

// TestEnrollByClaim: an agent with no code shows a claim code on its
// panel (the same after a restart); the administrator claims it with a
// name and a group; the agent
// is communicating with its token kept (0600), and after a restart boots
// with it.
func TestEnrollByClaim(t *testing.T) {
	bin := build(t)
	h := startClosedHub(t, bin)
	dir := t.TempDir()
	a := startNewAgent(t, bin, h, dir)
	code := a.claimCode(t)
	// Restarted while pending, it keeps its enrollment key and so its code.
	stopAgent(t, a)
	a = startNewAgent(t, bin, h, dir)
	if again := a.claimCode(t); again != code {
		t.Errorf("claim code after a restart %q, want %q", again, code)
	}
	checkSecretFile(t, filepath.Join(dir, "enroll.key"))

	body := fmt.Sprintf(`{"code": %q, "name": "Lobby printer", "group": "hq"}`, code)
	var claimed struct {
		AgentID string `json:"agent_id"`
	}
	if st := h.admin(t, http.MethodPost, "/api/v1/agents/claim", strings.NewReader(body), "application/json", &claimed); st != http.StatusOK {
		t.Fatalf("claim: HTTP %d", st)
	}
	got := h.communicating(t, 1)[0]
	if got.ID != claimed.AgentID || got.Name != "Lobby printer" || got.Group != "hq" {
		t.Errorf("listed %+v, claimed %s", got, claimed.AgentID)
	}
	checkSecretFile(t, filepath.Join(dir, "device-token"))
	testutil.WaitErr(t, 10*time.Second, "the claim code leaves the panel", func() error {
		if strings.Contains(sessionJSON(t, a), `"enrollment"`) {
			return fmt.Errorf("still shown")
		}
		return nil
	})

	stopAgent(t, a)
	testutil.WaitFor(t, 10*time.Second, "the hub sees the agent gone", func() bool {
		return h.agents(t)[got.ID].State == "not-communicating"
	})
	a = startNewAgent(t, bin, h, dir)
	if again := h.communicating(t, 1)[0]; again.ID != got.ID {
		t.Errorf("after restart: %+v, want %s", again, got.ID)
	}
	if strings.Contains(a.Output(), "not enrolled") {
		t.Errorf("the restarted agent enrolled again:\n%s", a.Output())
	}
}

// sessionJSON is the panel's session as the page reads it.
func sessionJSON(t *testing.T, a *agent) string {
	t.Helper()
	resp, err := http.Get(a.panel + "/api/v1/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestEnrollWithClientCertificate: a hub with a CA (--ca-cert, --ca-key)
// over TLS signs the agent's CSR at enrollment; the agent keeps the
// certificate (0600), no device token, and connects with it.
func TestEnrollWithClientCertificate(t *testing.T) {
	bin := build(t)
	agentsCA := testutil.NewCA(t, "tessera test agents CA")
	serverCA := testutil.NewCA(t, "tessera test hub CA")
	h, _ := startTLSHub(t, bin, serverCA, nil, "--ca-cert", agentsCA.CertFile, "--ca-key", agentsCA.KeyFile)
	_, code := h.enrollmentCode(t, `{"uses": 1}`)
	cfg := linkConfig(t, map[string]any{"hub_ca_file": serverCA.CertFile})
	dir := t.TempDir()
	printer := fmt.Sprintf("ipp://127.0.0.1:%d/ipp/print", testenv.FreePort(t))
	a := startAgent(t, bin, dir, h.url, printer, "", "", "--config", cfg, "--enroll-code", code)
	h.communicating(t, 1)
	checkSecretFile(t, filepath.Join(dir, "identity.crt"))
	if _, err := os.Stat(filepath.Join(dir, "device-token")); err == nil {
		t.Error("a device token was kept beside the certificate")
	}
	if !strings.Contains(a.Output(), "certificate=true") {
		t.Errorf("the agent did not say it enrolled with a certificate:\n%s", a.Output())
	}
}

// TestEnrollPanelBrowser: the idle screen of an agent waiting to be
// claimed shows "Register this printer", its claim code and the QR code,
// which the page's policy lets load; once claimed, the box goes.
func TestEnrollPanelBrowser(t *testing.T) {
	bin := build(t)
	h := startClosedHub(t, bin)
	a := startNewAgent(t, bin, h, t.TempDir())
	code := a.claimCode(t)
	ctx := browser(t)
	var title, shown string
	run(t, ctx, "the claim code and its QR code", chromedp.Navigate(a.panel),
		chromedp.WaitVisible("#idle-enroll", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('enroll-qr').complete && document.getElementById('enroll-qr').naturalWidth > 0`, nil),
		text("#idle-enroll h2", &title), text("#enroll-code", &shown))
	if title != "Register this printer" || shown != code {
		t.Errorf("shown %q, code %q; want %q", title, shown, code)
	}
	body := fmt.Sprintf(`{"code": %q, "name": "Front desk"}`, code)
	if st := h.admin(t, http.MethodPost, "/api/v1/agents/claim", strings.NewReader(body), "application/json", nil); st != http.StatusOK {
		t.Fatalf("claim: HTTP %d", st)
	}
	run(t, ctx, "the box goes once enrolled", chromedp.WaitNotVisible("#idle-enroll", chromedp.ByQuery))
}
