package panel

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tessera-print/tessera/session"
)

// panelHost is the Host of a request to a panel on its default address.
const panelHost = "127.0.0.1:8631"

// send serves one request with the given headers ("Name: value") on a
// panel at its default address.
func send(srv http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = panelHost
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		if name == "Host" {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return body.Error.Code, body.Error.Message
}

// TestWritesNeedJSON: a write is a JSON request, so a page elsewhere
// cannot send one as a "simple" cross-site form or text/plain post; a
// DELETE (always preflighted by browsers) may come without a body.
func TestWritesNeedJSON(t *testing.T) {
	const js = "Content-Type: application/json"
	tests := []struct {
		name, method, path, body string
		headers                  []string
		want                     int
	}{
		{"release text/plain", "POST", "/api/v1/release", `{"all":true}`, []string{"Content-Type: text/plain"}, 415},
		{"release form", "POST", "/api/v1/release", `{"all":true}`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415},
		{"release no type", "POST", "/api/v1/release", `{"all":true}`, nil, 415},
		{"logout no type", "POST", "/api/v1/logout", "", nil, 415},
		{"release json", "POST", "/api/v1/release", `{"all":true}`, []string{js}, 202},
		{"release json charset", "POST", "/api/v1/release", `{"all":true}`, []string{"Content-Type: application/json; charset=utf-8"}, 202},
		{"logout json", "POST", "/api/v1/logout", "", []string{js}, 204},
		{"delete without body", "DELETE", "/api/v1/jobs/hub:1", "", nil, 204},
		{"delete text body", "DELETE", "/api/v1/jobs/hub:1", "x", []string{"Content-Type: text/plain"}, 415},
		{"delete json", "DELETE", "/api/v1/jobs/hub:1", "", []string{js}, 204},
		{"get needs nothing", "GET", "/api/v1/session", "", nil, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeSessions{view: session.View{State: "idle"}, results: []session.Result{{ID: "hub:1", State: "queued"}}}
			rec := send(New(fs, slog.New(slog.DiscardHandler)), tc.method, tc.path, tc.body, tc.headers...)
			if rec.Code != tc.want {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 415 {
				if code, msg := errorCode(t, rec); code != "unsupported-media-type" || msg == "" {
					t.Errorf("error %q %q", code, msg)
				}
			}
		})
	}
}

// TestCrossOriginWritesRefused: a write from a page of another origin is
// refused, by its Origin or its Sec-Fetch-Site; a same-origin one and one
// without either header (not a browser) go through.
func TestCrossOriginWritesRefused(t *testing.T) {
	const js = "Content-Type: application/json"
	tests := []struct {
		name    string
		headers []string
		want    int
	}{
		{"other site", []string{js, "Origin: http://evil.example"}, 403},
		{"other port", []string{js, "Origin: http://127.0.0.1:9999"}, 403},
		{"null origin", []string{js, "Origin: null"}, 403},
		{"cross-site fetch", []string{js, "Sec-Fetch-Site: cross-site"}, 403},
		{"same-site fetch", []string{js, "Sec-Fetch-Site: same-site"}, 403},
		{"same origin", []string{js, "Origin: http://" + panelHost}, 202},
		{"same-origin fetch", []string{js, "Sec-Fetch-Site: same-origin"}, 202},
		{"not a browser", []string{js}, 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeSessions{view: session.View{State: "active"}, results: []session.Result{{ID: "hub:1", State: "queued"}}}
			rec := send(New(fs, slog.New(slog.DiscardHandler)), "POST", "/api/v1/release", `{"all":true}`, tc.headers...)
			if rec.Code != tc.want {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 403 {
				if code, msg := errorCode(t, rec); code != "cross-origin" || msg == "" {
					t.Errorf("error %q %q", code, msg)
				}
			}
		})
	}
}

// TestHostsServed: only the configured names are answered, so a page of
// another site whose name was rebound to the agent's address (DNS
// rebinding) gets nothing; by default the loopback names, any port.
func TestHostsServed(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
		host  string
		want  int
	}{
		{"default 127.0.0.1", nil, "127.0.0.1:8631", 200},
		{"default localhost", nil, "localhost:8631", 200},
		{"default localhost no port", nil, "localhost", 200},
		{"default ::1", nil, "[::1]:8631", 200},
		{"default case", nil, "LOCALHOST:8631", 200},
		{"rebound name", nil, "evil.example:8631", 421},
		{"agent address not listed", nil, "192.0.2.10:8631", 421},
		{"empty host", nil, "", 421},
		{"listed name", []string{"agent.lan", "192.0.2.10"}, "agent.lan:8631", 200},
		{"listed address", []string{"agent.lan", "192.0.2.10"}, "192.0.2.10:8631", 200},
		{"listed replace the defaults", []string{"agent.lan"}, "127.0.0.1:8631", 421},
		{"listed ipv6", []string{"[2001:db8::1]"}, "[2001:db8::1]:8631", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeSessions{view: session.View{State: "idle"}}
			srv := New(fs, slog.New(slog.DiscardHandler), WithHosts(tc.hosts))
			rec := send(srv, "GET", "/api/v1/session", "", "Host: "+tc.host)
			if rec.Code != tc.want {
				t.Fatalf("Host %q: HTTP %d, want %d: %s", tc.host, rec.Code, tc.want, rec.Body)
			}
			if tc.want == 421 {
				if code, msg := errorCode(t, rec); code != "wrong-host" || msg == "" {
					t.Errorf("error %q %q", code, msg)
				}
			}
		})
	}
}

func wsURL(ts *httptest.Server) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/events"
}

// TestEventsReadLimit: the panel's client sends nothing but pongs and a
// close, so a message over 4 KiB ends the connection instead of growing the
// agent's memory (one 400 MiB frame took it to 864 MB).
func TestEventsReadLimit(t *testing.T) {
	fs := &fakeSessions{view: session.View{State: "idle"}}
	ts := httptest.NewServer(New(fs, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// Only a guard against a hang: the server answers at once.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var v session.View
	if err := ws.ReadJSON(&v); err != nil {
		t.Fatal(err)
	}
	// Small enough to sit in the socket buffers whole, so the close
	// frame is usually read back; but the panel may close as soon as it
	// has read the frame's header, and the rest of the write then meets a
	// reset: the connection is cut either way, which is what counts.
	werr := ws.WriteMessage(websocket.TextMessage, make([]byte, 16<<10))
	if werr != nil && !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
		t.Fatal(werr)
	}
	_, _, err = ws.ReadMessage()
	switch {
	case websocket.IsCloseError(err, websocket.CloseMessageTooBig):
	case werr != nil && err != nil:
		// Cut before the close frame could be read back.
	default:
		t.Fatalf("after a 16 KiB message: %v (write: %v), want the connection closed with 1009 (message too big)", err, werr)
	}
}

// TestEventsHostAndOrigin: the websocket is refused to a Host not served
// and to a page of another origin.
func TestEventsHostAndOrigin(t *testing.T) {
	fs := &fakeSessions{view: session.View{State: "idle"}}
	ts := httptest.NewServer(New(fs, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	for _, h := range []http.Header{
		{"Host": {"evil.example"}},
		{"Origin": {"http://evil.example"}},
		{"Origin": {"null"}},
	} {
		if _, resp, err := websocket.DefaultDialer.Dial(wsURL(ts), h); err == nil || resp == nil || resp.StatusCode < 400 {
			t.Errorf("events with %v: %v", h, err)
		}
	}
}

// TestErrorsSayNothingInternal: what the panel answers is in words for the
// person; the decoder's and the technician's internal errors stay in the
// log.
func TestErrorsSayNothingInternal(t *testing.T) {
	const js = "Content-Type: application/json"
	fs := &fakeSessions{view: session.View{State: "idle"}}
	tech := &fakeTech{pin: "123456", acceptErr: errors.New("read serial: snmp: request timeout (after 1 retries) from 10.1.2.3:161")}
	srv := New(fs, slog.New(slog.DiscardHandler), WithTechnician(tech))
	tests := []struct {
		name, path, body string
		hidden           []string
	}{
		{"accept printer", "/api/v1/technician/accept-printer", `{"pin":"123456"}`, []string{"snmp", "10.1.2.3", "timeout"}},
		{"bad json", "/api/v1/release", `{"all":`, []string{"EOF", "unexpected"}},
		{"unknown field", "/api/v1/release", `{"everything":true}`, []string{"unknown field", "everything"}},
		{"wrong type", "/api/v1/pin", `{"pin":1234}`, []string{"Go struct", "number", "string"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := send(srv, "POST", tc.path, tc.body, js)
			if rec.Code < 400 {
				t.Fatalf("HTTP %d", rec.Code)
			}
			_, msg := errorCode(t, rec)
			for _, h := range tc.hidden {
				if strings.Contains(msg, h) {
					t.Errorf("message %q shows %q", msg, h)
				}
			}
		})
	}
}
