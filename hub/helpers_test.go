package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/offline/verifier"
)

const testAdminToken = "test-admin-token-0123456789"

// testSecretsKey seals the secrets of a test hub on PostgreSQL.
var testSecretsKey = bytes.Repeat([]byte{0x5e}, SecretsKeySize)

type testHub struct {
	t     *testing.T
	s     *Server
	srv   *httptest.Server
	clock *clocktest.Clock
	dir   string
	// deviceTokens are the device tokens the hub handed out at Boot, by
	// agent id (reconnect dials with them).
	mu           sync.Mutex
	deviceTokens map[string]string
}

// deviceToken is the device token the hub handed agent id ("" for none).
func (h *testHub) deviceToken(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deviceTokens[id]
}

// reconnect is agent id connecting again, with the device token the hub
// handed it at its first Boot, booted.
func (h *testHub) reconnect(id string) *testAgent {
	h.t.Helper()
	a := h.mustDial(h.deviceToken(id))
	if resp := a.boot(id); resp.Status != "accepted" {
		h.t.Fatalf("boot of %s again: %+v", id, resp)
	}
	return a
}

// newTestHub runs a hub on an httptest server; edit adjusts its config.
func newTestHub(t *testing.T, edit func(*Config)) *testHub {
	t.Helper()
	clk := clocktest.New(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	cfg := Config{
		DataDir:    dir,
		Database:   testDatabase(t),
		SecretsKey: testSecretsKey,
		AdminToken: testAdminToken,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:      clk,
		// The cheapest argon2id there is: the tests check which verifier
		// is stored, not its cost.
		testVerifier: &verifier.Params{Time: 1, MemoryKiB: 8, Threads: 1},
		// An older connection that does not answer a ping in this long is
		// replaced (clone.go); tests of clones set more.
		pingTimeout: 500 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	if c, ok := cfg.Clock.(*clocktest.Clock); ok {
		clk = c // the test's own fake clock
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		srv.Close()
	})
	return &testHub{t: t, s: s, srv: srv, clock: clk, dir: dir, deviceTokens: map[string]string{}}
}

// testWriter sends log lines to t.Log, so they show only for failures.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
	return m
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error object in %s", r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error without message: %s", r.body)
	}
	code, _ := e["code"].(string)
	return code
}

// do sends a request with the admin token (token "" sends none).
func (h *testHub) do(method, path, token, contentType string, body io.Reader) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *testHub) admin(method, path string, body any) response {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	return h.do(method, path, testAdminToken, "application/json", r)
}

func (h *testHub) mustStatus(r response, want int) response {
	h.t.Helper()
	if r.status != want {
		h.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

func (h *testHub) createUser(doc map[string]any) {
	h.t.Helper()
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/users", doc), http.StatusCreated)
}

// uploadForm builds a multipart body; file nil sends no file part.
func uploadForm(t *testing.T, fields map[string]string, filename string, file []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

func (h *testHub) upload(fields map[string]string, filename string, file []byte) response {
	h.t.Helper()
	ct, body := uploadForm(h.t, fields, filename, file)
	return h.do(http.MethodPost, "/api/v1/jobs", testAdminToken, ct, body)
}

// uploadJob uploads and returns the new job's id.
func (h *testHub) uploadJob(fields map[string]string, filename string, file []byte) string {
	h.t.Helper()
	r := h.mustStatus(h.upload(fields, filename, file), http.StatusCreated)
	id, _ := r.json(h.t)["id"].(string)
	if id == "" {
		h.t.Fatalf("no id in %s", r.body)
	}
	return id
}

func (h *testHub) getJob(id string) jobView {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/jobs/"+id, nil), http.StatusOK)
	var j jobView
	if err := json.Unmarshal(r.body, &j); err != nil {
		h.t.Fatal(err)
	}
	return j
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testAgents are n agent ids, in order.
func testAgents(n int) []string {
	agents := make([]string, n)
	for i := range agents {
		agents[i] = fmt.Sprintf("agent-%05d", i)
	}
	return agents
}

// insertAgents stores bare agent rows, 500 an INSERT.
func insertAgents(tb testing.TB, db *store.DB, agents []string) {
	tb.Helper()
	for start := 0; start < len(agents); start += 500 {
		chunk := agents[start:min(start+500, len(agents))]
		args := make([]any, len(chunk))
		for i, a := range chunk {
			args[i] = a
		}
		q := "INSERT INTO agents (id, created_at) VALUES " + strings.TrimSuffix(strings.Repeat("(?, 0), ", len(chunk)), ", ")
		if _, err := db.ExecContext(tb.Context(), q, args...); err != nil {
			tb.Fatal(err)
		}
	}
}
