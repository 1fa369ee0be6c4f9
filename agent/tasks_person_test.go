package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/session"
)

// fakePeople records the sessions and releases a person's task asks for.
type fakePeople struct {
	err    error
	result session.Result
	calls  []string
}

func (p *fakePeople) LoginAs(_ context.Context, u protocol.User, token string) error {
	p.calls = append(p.calls, "login "+u.Username+" "+token)
	return p.err
}

func (p *fakePeople) ReleaseFor(_ context.Context, u protocol.User, token, job string) (session.Result, error) {
	p.calls = append(p.calls, "release "+u.Username+" "+token+" "+job)
	return p.result, p.err
}

func personTaskReq(typ string, payload map[string]any) protocol.TaskRequest {
	b, _ := json.Marshal(payload)
	return protocol.TaskRequest{ID: "t1", Type: typ, Payload: b}
}

// A login task logs the hub's user in with the hub's token; one without
// them, or naming another user than its user, fails; a busy panel fails
// the task with the reason.
func TestTaskLogin(t *testing.T) {
	alice := map[string]any{"username": "alice"}
	tests := []struct {
		name    string
		payload map[string]any
		err     error
		want    string // the call made, or the error
	}{
		{"ok", map[string]any{"username": "alice", "user": alice, "login_token": "tok"}, nil, "login alice tok"},
		{"no token", map[string]any{"username": "alice", "user": alice}, nil, "no user or login token"},
		{"another user", map[string]any{"username": "bob", "user": alice, "login_token": "tok"}, nil, `username "bob" is not the user "alice"`},
		{"busy", map[string]any{"username": "alice", "user": alice, "login_token": "tok"}, session.ErrBusy, "another person's session is open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakePeople{err: tc.err}
			tr := &taskRunner{people: p}
			_, err := tr.do(context.Background(), personTaskReq(protocol.TaskLogin, tc.payload))
			got := strings.Join(p.calls, ";")
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A release-job task releases hub:ID for the person and ends with the
// job: completed when it printed, failed when it failed or was refused;
// still printing when the task's time ran out.
func TestTaskReleaseJob(t *testing.T) {
	payload := map[string]any{"job_id": "j1", "username": "bob", "user": map[string]any{"username": "bob"}, "login_token": "tok"}
	tests := []struct {
		name     string
		result   session.Result
		progress []release.Progress
		want     string
	}{
		{"printed", session.Result{State: release.StateQueued}, []release.Progress{{JobID: "hub:j1", State: release.StatePrinting},
			{JobID: "hub:j1", State: release.StatePrinted, Impressions: 3}}, `{"job_id":"j1","state":"printed","impressions":3}`},
		{"failed", session.Result{State: release.StateQueued}, []release.Progress{{JobID: "hub:j1", State: release.StateFailed, Reason: "jam"}},
			"job j1 failed: jam"},
		{"refused", session.Result{State: release.StateHeld, Reason: "Not enough quota"}, nil, "held (Not enough quota)"},
		{"time runs out", session.Result{State: release.StateQueued}, []release.Progress{{JobID: "hub:j1", State: release.StatePrinting}},
			`{"job_id":"j1","state":"printing"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakePeople{result: tc.result}
			tr := &taskRunner{people: p}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				testutil.WaitFor(t, 5*time.Second, "the task to follow its job", func() bool {
					tr.jobs.mu.Lock()
					defer tr.jobs.mu.Unlock()
					return len(tr.jobs.byJob) == 1 || tc.progress == nil
				})
				for _, pr := range tc.progress {
					tr.jobs.progress(pr)
				}
				if tc.name == "time runs out" {
					testutil.WaitFor(t, 5*time.Second, "the progress taken", func() bool {
						tr.jobs.mu.Lock()
						defer tr.jobs.mu.Unlock()
						return len(tr.jobs.byJob["hub:j1"]) == 0
					})
					cancel()
				}
			}()
			res, err := tr.do(ctx, personTaskReq(protocol.TaskReleaseJob, payload))
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				b, _ := json.Marshal(res)
				got = string(b)
			}
			if !strings.Contains(got, tc.want) || p.calls[0] != "release bob tok hub:j1" {
				t.Errorf("got %q (calls %v), want %q", got, p.calls, tc.want)
			}
		})
	}
}

// fakeQRLink gives numbered codes, or fails.
type fakeQRLink struct {
	n    int
	fail bool
}

func (l *fakeQRLink) Call(_ context.Context, action string, _, resp any) error {
	if l.fail {
		return errors.New("hub down")
	}
	l.n++
	*resp.(*protocol.LoginCodeResponse) = protocol.LoginCodeResponse{Code: "code" + string(rune('0'+l.n)), TTL: 120}
	return nil
}

func (l *fakeQRLink) PageURL(path string) string { return "https://hub" + path }

// The idle screen shows a code while the hub is reachable and no one is
// at the panel, a new one before it ends and after each session; none
// while the hub is lost.
func TestQRLoginCode(t *testing.T) {
	f := session.New(session.Config{Logger: slog.New(slog.DiscardHandler)})
	clk := clocktest.New(time.Unix(1000, 0))
	link := &fakeQRLink{}
	q := &qrLogin{link: link, sess: f, clock: clk, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	qr := func(want string) {
		t.Helper()
		testutil.WaitFor(t, 5*time.Second, "QR "+want, func() bool {
			v := f.View()
			return (v.QR == nil && want == "") || (v.QR != nil && v.QR.URL == want)
		})
	}
	qr("")
	f.SetCloud(true)
	qr("https://hub/q/code1")
	testutil.WaitFor(t, 5*time.Second, "the refresh timer", func() bool { return clk.Timers() > 0 })
	clk.Advance(100 * time.Second)
	qr("https://hub/q/code2")
	f.SetCloud(false)
	qr("")
	f.SetCloud(true)
	qr("https://hub/q/code3")
}
