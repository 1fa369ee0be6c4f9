package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTechnicianViewServed: the real agent serves the technician view to a
// signed-in technician: its version and id, the hub link, the outbox, and
// the log lines it wrote while starting.
func TestTechnicianViewServed(t *testing.T) {
	const pin = "90210333"
	cfg := baseConfig(t)
	cfg.TechnicianPINFile = filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(cfg.TechnicianPINFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "http://" + startSystem(t, cfg)
	do := func(method, path, body, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := do("GET", "/api/v1/technician", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: HTTP %d", resp.StatusCode)
	}
	var login struct{ Token string }
	resp := do("POST", "/api/v1/technician/login", `{"pin":"`+pin+`"}`, "")
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: HTTP %d, %v", resp.StatusCode, err)
	}
	resp = do("GET", "/api/v1/technician", "", login.Token)
	var v struct {
		Version string `json:"version"`
		AgentID string `json:"agent_id"`
		Cloud   struct {
			Online bool   `json:"online"`
			HubURL string `json:"hub_url"`
		} `json:"cloud"`
		Sync struct {
			Pending int `json:"pending"`
		} `json:"sync"`
		Log []string `json:"log"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("view: HTTP %d, %v", resp.StatusCode, err)
	}
	if v.Version == "" || v.AgentID == "" || v.Cloud.HubURL != cfg.HubURL || v.Cloud.Online || len(v.Log) == 0 {
		t.Fatalf("view %+v", v)
	}
	if strings.Contains(strings.Join(v.Log, "\n"), pin) {
		t.Fatal("the log shows the PIN")
	}
	if resp := do("POST", "/api/v1/technician/poll", `{}`, login.Token); resp.StatusCode != http.StatusAccepted {
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
	resp = do("POST", "/api/v1/technician/test", `{}`, login.Token)
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
