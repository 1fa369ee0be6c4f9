package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/protocol"
)

const realHubToken = "agent-test-admin-token-0123456789"

// realHub is the hub package's server on an httptest server, with open
// enrollment, for tests of the agent against the hub's real rules.
type realHub struct {
	t   *testing.T
	srv *httptest.Server
	dir string // the hub's data directory
}

func newRealHub(t *testing.T) *realHub {
	t.Helper()
	dir := t.TempDir()
	s, err := hub.Open(context.Background(), hub.Config{DataDir: dir, AdminToken: realHubToken,
		OpenEnrollment: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		_ = s.Close()
		srv.Close()
	})
	return &realHub{t: t, srv: srv, dir: dir}
}

func (h *realHub) do(method, path, contentType string, body io.Reader) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+realHubToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *realHub) admin(method, path string, body any) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	return h.do(method, path, "application/json", r)
}

// uploadJob creates user owner if needed and uploads a one-page PDF for
// them; it returns the hub's job id.
func (h *realHub) uploadJob(owner string) string {
	h.t.Helper()
	h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": owner})
	pdf, err := os.ReadFile("../hub/testdata/default.pdf")
	if err != nil {
		h.t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("owner", owner)
	fw, _ := mw.CreateFormFile("file", "default.pdf")
	_, _ = fw.Write(pdf)
	_ = mw.Close()
	code, body := h.do(http.MethodPost, "/api/v1/jobs", mw.FormDataContentType(), &buf)
	var j struct{ ID string }
	if code != http.StatusCreated || json.Unmarshal(body, &j) != nil || j.ID == "" {
		h.t.Fatalf("upload: %d %s", code, body)
	}
	return j.ID
}

// login gives user a card and logs them in at the agent of link, as a
// badge at its reader does; it returns the session's login token.
func (h *realHub) login(link *cloudlink.Link, user string) string {
	h.t.Helper()
	card := "CARD-" + user
	if code, body := h.admin(http.MethodPut, "/api/v1/users/"+user, map[string]any{"cards": []string{card}}); code != http.StatusOK {
		h.t.Fatalf("card for %s: %d %s", user, code, body)
	}
	resp, err := link.Authorize(context.Background(), protocol.AuthorizeRequest{Card: card})
	if err != nil || resp.Status != protocol.AuthAccepted || resp.LoginToken == "" {
		h.t.Fatalf("login of %s: %+v, %v", user, resp, err)
	}
	return resp.LoginToken
}

// jobState is the hub's state of job id.
func (h *realHub) jobState(id string) string {
	h.t.Helper()
	code, body := h.admin(http.MethodGet, "/api/v1/jobs/"+id, nil)
	var j struct{ State string }
	if code != http.StatusOK || json.Unmarshal(body, &j) != nil {
		h.t.Fatalf("get job %s: %d %s", id, code, body)
	}
	return j.State
}

// alerts lists the hub's alerts of code.
func (h *realHub) alerts(code string) []map[string]any {
	h.t.Helper()
	status, body := h.admin(http.MethodGet, "/api/v1/alerts?code="+code, nil)
	var a struct{ Alerts []map[string]any }
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
		h.t.Fatalf("alerts: %d %s", status, body)
	}
	return a.Alerts
}
