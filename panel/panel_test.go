package panel

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tessera-print/tessera/session"
)

type fakeSessions struct {
	mu      sync.Mutex
	view    session.View
	results []session.Result
	err     error
	subs    []chan struct{}
	taps    int // Activity calls
}

// DismissNotification knows one notification, "n1".
func (f *fakeSessions) DismissNotification(id string) error {
	if id != "n1" {
		return session.ErrNoNotification
	}
	return nil
}

func (f *fakeSessions) View() session.View { f.mu.Lock(); defer f.mu.Unlock(); return f.view }
func (f *fakeSessions) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch, func() {}
}
func (f *fakeSessions) Release(ctx context.Context, req session.ReleaseRequest) ([]session.Result, error) {
	return f.results, f.err
}
func (f *fakeSessions) Delete(ctx context.Context, jobID string) error  { return f.err }
func (f *fakeSessions) Refresh(ctx context.Context) error               { return f.err }
func (f *fakeSessions) Logout(ctx context.Context)                      {}
func (f *fakeSessions) CancelAutoRelease()                              {}
func (f *fakeSessions) Activity()                                       { f.mu.Lock(); f.taps++; f.mu.Unlock() }
func (f *fakeSessions) SubmitPIN(ctx context.Context, pin string) error { return f.err }
func (f *fakeSessions) Login(ctx context.Context, u, p string) error    { return f.err }
func (f *fakeSessions) RegisterCard(ctx context.Context, u, p string) error {
	return f.err
}

func (f *fakeSessions) set(state string) {
	f.mu.Lock()
	f.view.State = state
	subs := f.subs
	f.mu.Unlock()
	for _, ch := range subs {
		ch <- struct{}{}
	}
}

func TestAPI(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path, body string
		results    []session.Result
		err        error
		wantStatus int
		wantCode   string
	}{
		{"healthz", "GET", "/healthz", "", nil, nil, 200, ""},
		{"session", "GET", "/api/v1/session", "", nil, nil, 200, ""},
		{"release queued", "POST", "/api/v1/release", `{"all":true}`, []session.Result{{ID: "hub:1", State: "queued"}}, nil, 202, ""},
		{"release all conflicts", "POST", "/api/v1/release", `{"jobs":[{"id":"hub:1"}]}`, []session.Result{{ID: "hub:1", State: "printing", Conflict: true}}, nil, 409, "conflict"},
		{"release mixed", "POST", "/api/v1/release", `{"all":true}`, []session.Result{{ID: "hub:1", State: "printing", Conflict: true}, {ID: "hub:2", State: "queued"}}, nil, 202, ""},
		{"release no session", "POST", "/api/v1/release", `{"all":true}`, nil, session.ErrNoSession, 409, "no-session"},
		{"release bad json", "POST", "/api/v1/release", `{"all":`, nil, nil, 400, "bad-request"},
		{"release unknown field", "POST", "/api/v1/release", `{"everything":true}`, nil, nil, 400, "bad-request"},
		{"release empty", "POST", "/api/v1/release", `{}`, nil, nil, 422, "invalid"},
		{"delete unknown", "DELETE", "/api/v1/jobs/hub:9", "", nil, session.ErrNoJob, 404, "not-found"},
		{"delete ok", "DELETE", "/api/v1/jobs/hub:1", "", nil, nil, 204, ""},
		{"logout", "POST", "/api/v1/logout", "", nil, nil, 204, ""},
		{"activity", "POST", "/api/v1/activity", "{}", nil, nil, 204, ""},
		{"dismiss", "POST", "/api/v1/notifications/n1/dismiss", "{}", nil, nil, 204, ""},
		{"dismiss unknown", "POST", "/api/v1/notifications/n9/dismiss", "{}", nil, nil, 404, "not-found"},
		{"unknown path", "GET", "/nope", "", nil, nil, 404, "not-found"},
		{"index", "GET", "/", "", nil, nil, 200, ""},
		{"pin ok", "POST", "/api/v1/pin", `{"pin":"48261537"}`, nil, nil, 200, ""},
		{"pin wrong", "POST", "/api/v1/pin", `{"pin":"11112222"}`, nil, &session.LoginError{Code: "wrong-pin", Message: "Wrong PIN."}, 401, "wrong-pin"},
		{"pin locked", "POST", "/api/v1/pin", `{"pin":"11112222"}`, nil, &session.LoginError{Code: "locked", Message: "Locked.", Until: time.Now().Add(time.Minute)}, 423, "locked"},
		{"pin bad json", "POST", "/api/v1/pin", `{"pin":1234}`, nil, nil, 400, "bad-request"},
		{"login invalid", "POST", "/api/v1/login", `{"username":"","password":""}`, nil, &session.LoginError{Code: "invalid", Message: "Enter."}, 422, "invalid"},
		{"register offline", "POST", "/api/v1/register-card", `{"username":"a","password":"b"}`, nil, &session.LoginError{Code: "cloud-unreachable", Message: "Offline."}, 503, "cloud-unreachable"},
		{"register taken", "POST", "/api/v1/register-card", `{"username":"a","password":"b"}`, nil, &session.LoginError{Code: "card-taken", Message: "Taken."}, 409, "card-taken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeSessions{view: session.View{State: "idle"}, results: tc.results, err: tc.err}
			srv := New(fs, slog.New(slog.DiscardHandler))
			var headers []string
			if tc.method == "POST" {
				headers = append(headers, "Content-Type: application/json")
			}
			rec := send(srv, tc.method, tc.path, tc.body, headers...)
			if rec.Code != tc.wantStatus {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantCode != "" {
				var body struct {
					Error struct{ Code, Message string }
					Jobs  []map[string]any
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tc.wantCode || body.Error.Message == "" {
					t.Fatalf("body %s (%v), want code %s", rec.Body, err, tc.wantCode)
				}
				if tc.wantCode == "conflict" && (len(body.Jobs) != 1 || body.Jobs[0]["state"] != "printing") {
					t.Errorf("409 without the job's current state: %s", rec.Body)
				}
			}
		})
	}
}

func TestEventsPushSession(t *testing.T) {
	fs := &fakeSessions{view: session.View{State: "idle"}}
	ts := httptest.NewServer(New(fs, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var v session.View
	if err := ws.ReadJSON(&v); err != nil || v.State != "idle" {
		t.Fatalf("first push %+v %v", v, err)
	}
	fs.set("active")
	if err := ws.ReadJSON(&v); err != nil || v.State != "active" {
		t.Fatalf("push after change %+v %v", v, err)
	}
	// A page from elsewhere may not subscribe.
	h := http.Header{"Origin": {"http://evil.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/events", h); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin events: %v", err)
	}
}
