package panel

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/session"
)

// fakeDeviceTech is a Technician with the device actions: unsent records
// refuse a reset without force, as the agent's do.
type fakeDeviceTech struct {
	*fakeTech
	unsent   int
	files    []StickFile
	stickErr error
	resets   []bool // each reset done, with its force
}

func (f *fakeDeviceTech) DiagnosticsToStick(context.Context) ([]StickFile, error) {
	return f.files, f.stickErr
}

func (f *fakeDeviceTech) ResetInfo(context.Context) (ResetInfo, error) {
	return ResetInfo{UnsentRecords: f.unsent}, nil
}

func (f *fakeDeviceTech) FactoryReset(_ context.Context, force bool) error {
	if f.unsent > 0 && !force {
		return &UnsentRecordsError{Records: f.unsent}
	}
	f.resets = append(f.resets, force)
	return nil
}

// TestTechnicianReset: the menu's factory reset needs the token, an
// explicit confirmation and the PIN again; unsent records refuse it with
// their count, and only the second confirmation (force) goes on. Each
// refusal leaves the device as it was.
func TestTechnicianReset(t *testing.T) {
	tests := []struct {
		name       string
		unsent     int
		authed     bool
		body       string
		status     int
		code       string
		wantResets []bool
	}{
		{"no token", 0, false, `{"pin":"90210333","confirm":true}`, http.StatusUnauthorized, "technician-login", nil},
		{"not confirmed", 0, true, `{"pin":"90210333"}`, http.StatusBadRequest, "confirm", nil},
		{"wrong PIN", 0, true, `{"pin":"11111111","confirm":true,"force":true}`, http.StatusUnauthorized, "bad-pin", nil},
		{"nothing unsent", 0, true, `{"pin":"90210333","confirm":true}`, http.StatusAccepted, "", []bool{false}},
		{"unsent records", 3, true, `{"pin":"90210333","confirm":true}`, http.StatusConflict, "unsent-records", nil},
		{"unsent records, forced", 3, true, `{"pin":"90210333","confirm":true,"force":true}`, http.StatusAccepted, "", []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tech := &fakeDeviceTech{fakeTech: &fakeTech{pin: "90210333", now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}, unsent: tt.unsent}
			srv := New(&fakeSessions{view: session.View{State: "idle"}}, slog.New(slog.DiscardHandler), WithTechnician(tech))
			tok := techLogin(t, srv, "90210333")
			headers := []string{jsonType}
			if tt.authed {
				headers = append(headers, "Authorization: Bearer "+tok)
			}
			info := send(srv, "GET", "/api/v1/technician/reset", "", headers...)
			if tt.authed && (info.Code != http.StatusOK || !strings.Contains(info.Body.String(), `"unsent_records":`)) {
				t.Errorf("reset info: HTTP %d %s", info.Code, info.Body)
			}
			rec := send(srv, "POST", "/api/v1/technician/reset", tt.body, headers...)
			var body struct {
				State         string `json:"state"`
				UnsentRecords int    `json:"unsent_records"`
				Error         apiError
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tt.status || body.Error.Code != tt.code {
				t.Fatalf("HTTP %d %s, want %d %q", rec.Code, rec.Body, tt.status, tt.code)
			}
			if tt.code == "unsent-records" && (body.UnsentRecords != tt.unsent || !strings.Contains(body.Error.Message, "3 accounting records")) {
				t.Errorf("the refusal does not say how many: %s", rec.Body)
			}
			if tt.status == http.StatusAccepted && body.State != "resetting" {
				t.Errorf("answer %s", rec.Body)
			}
			if len(tech.resets) != len(tt.wantResets) || (len(tt.wantResets) > 0 && tech.resets[0] != tt.wantResets[0]) {
				t.Errorf("resets %v, want %v", tech.resets, tt.wantResets)
			}
		})
	}
}

// TestTechnicianDiagnostics: the files written are told (stick, name,
// size); no stick says to insert one; a failure says so in words, without
// the error's text.
func TestTechnicianDiagnostics(t *testing.T) {
	files := []StickFile{{Stick: "usb0", Name: "diagnostics-agt-1-20261207T080000Z.tar.gz", Bytes: 4242}}
	tests := []struct {
		name   string
		files  []StickFile
		err    error
		status int
		want   string
	}{
		{"written", files, nil, http.StatusOK, `"name":"diagnostics-agt-1-20261207T080000Z.tar.gz","bytes":4242`},
		{"no stick", nil, ErrNoStick, http.StatusConflict, `"code":"no-stick"`},
		{"stick failed", nil, errors.New("write /media/usb0/tessera/x: no space left on device"), http.StatusServiceUnavailable, `"code":"stick-failed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tech := &fakeDeviceTech{fakeTech: &fakeTech{pin: "90210333"}, files: tt.files, stickErr: tt.err}
			srv := New(&fakeSessions{view: session.View{State: "idle"}}, slog.New(slog.DiscardHandler), WithTechnician(tech))
			tok := techLogin(t, srv, "90210333")
			if rec := send(srv, "POST", "/api/v1/technician/diagnostics", `{}`, jsonType); rec.Code != http.StatusUnauthorized {
				t.Errorf("without a token: HTTP %d", rec.Code)
			}
			rec := send(srv, "POST", "/api/v1/technician/diagnostics", `{}`, jsonType, "Authorization: Bearer "+tok)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) || strings.Contains(rec.Body.String(), "/media") {
				t.Errorf("HTTP %d %s, want %d with %s", rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}
}

// A Technician without the device actions answers their endpoints 404.
func TestTechnicianDeviceActionsOff(t *testing.T) {
	srv := newTechServer(&fakeTech{pin: "90210333"})
	tok := techLogin(t, srv, "90210333")
	for _, p := range []string{"/api/v1/technician/diagnostics", "/api/v1/technician/reset"} {
		if rec := send(srv, "POST", p, `{"pin":"90210333","confirm":true}`, jsonType, "Authorization: Bearer "+tok); rec.Code != http.StatusNotFound {
			t.Errorf("%s: HTTP %d", p, rec.Code)
		}
	}
}
