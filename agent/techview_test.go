package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testutil"
)

// techDo signs a technician in on the real agent cfg describes (with a
// technician PIN) and returns a request function with the token.
func techDo(t *testing.T, cfg config.Config) (do func(method, path, body string, authed bool) *http.Response, pin string) {
	t.Helper()
	pin = "90210333"
	cfg.TechnicianPINFile = filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(cfg.TechnicianPINFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "http://" + startSystem(t, cfg)
	var token string
	do = func(method, path, body string, authed bool) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if authed {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	var login struct{ Token string }
	resp := do("POST", "/api/v1/technician/login", `{"pin":"`+pin+`"}`, false)
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: HTTP %d, %v", resp.StatusCode, err)
	}
	token = login.Token
	return do, pin
}

// techView is the part of the technician view the tests read.
type techView struct {
	Version string `json:"version"`
	AgentID string `json:"agent_id"`
	Cloud   struct {
		Online        bool       `json:"online"`
		HubURL        string     `json:"hub_url"`
		LastConnected *time.Time `json:"last_connected"`
	} `json:"cloud"`
	Sync struct {
		Pending int `json:"pending"`
	} `json:"sync"`
	Log []string `json:"log"`
}

func getTechView(t *testing.T, do func(method, path, body string, authed bool) *http.Response) techView {
	t.Helper()
	resp := do("GET", "/api/v1/technician", "", true)
	var v techView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("view: HTTP %d, %v", resp.StatusCode, err)
	}
	return v
}

// TestTechnicianViewServed: the real agent serves the technician view to a
// signed-in technician: its version and id, the hub link, the outbox, and
// the log lines it wrote while starting; the poll and the test answer.
func TestTechnicianViewServed(t *testing.T) {
	cfg := baseConfig(t)
	do, pin := techDo(t, cfg)
	if resp := do("GET", "/api/v1/technician", "", false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: HTTP %d", resp.StatusCode)
	}
	v := getTechView(t, do)
	if v.Version == "" || v.AgentID == "" || v.Cloud.HubURL != cfg.HubURL || v.Cloud.Online || v.Cloud.LastConnected != nil || len(v.Log) == 0 {
		t.Fatalf("view %+v", v)
	}
	if strings.Contains(strings.Join(v.Log, "\n"), pin) {
		t.Fatal("the log shows the PIN")
	}
	if resp := do("POST", "/api/v1/technician/poll", `{}`, true); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("poll: HTTP %d", resp.StatusCode)
	}
	// Nothing answers at the hub's or the printer's address: both fail, in
	// words, without the address's error text.
	var test struct {
		Results []struct {
			Name    string `json:"name"`
			OK      bool   `json:"ok"`
			Message string `json:"message"`
		} `json:"results"`
	}
	resp := do("POST", "/api/v1/technician/test", `{}`, true)
	if err := json.NewDecoder(resp.Body).Decode(&test); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("test: HTTP %d, %v", resp.StatusCode, err)
	}
	got := map[string]bool{}
	for _, r := range test.Results {
		got[r.Name] = r.OK
		if r.Message == "" || strings.Contains(r.Message, "refused") {
			t.Errorf("%s: message %q", r.Name, r.Message)
		}
	}
	if ok, found := got["hub"]; !found || ok {
		t.Errorf("hub test %v", test.Results)
	}
	if ok, found := got["printer-ipp"]; !found || ok {
		t.Errorf("printer-ipp test %v", test.Results)
	}
}

// TestTechnicianViewOnline: with the hub up, the view says the link is
// online and since when.
func TestTechnicianViewOnline(t *testing.T) {
	hub := newScriptHub(t)
	cfg := baseConfig(t)
	cfg.HubURL = hub.srv.URL
	do, _ := techDo(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "the view says online", func() bool {
		v := getTechView(t, do)
		return v.Cloud.Online && v.Cloud.LastConnected != nil
	})
}

// The hub's address shown to the technician carries no credential.
func TestSafeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"wss://hub.example:8443", "wss://hub.example:8443"},
		{"https://user:secret@hub.example/base?token=abc#x", "https://hub.example/base"},
		{"::not a url", ""},
	}
	for _, tc := range tests {
		if got := safeURL(tc.in); got != tc.want {
			t.Errorf("safeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
