package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pair connects two peers over a real websocket on loopback.
func pair(t *testing.T, setup func(server *Peer)) (client *Peer) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		p := NewPeer(ws, logger)
		setup(p)
		_ = p.Run(r.Context())
	}))
	t.Cleanup(srv.Close)
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Sec-Websocket-Protocol"); got != Subprotocol {
		t.Fatalf("subprotocol %q", got)
	}
	client = NewPeer(ws, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = client.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return client
}

func TestCallResultAndError(t *testing.T) {
	client := pair(t, func(p *Peer) {
		p.Handle(ActionHeartbeat, func(ctx context.Context, payload json.RawMessage) (any, error) {
			return HeartbeatResponse{ServerTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, nil
		})
		p.Handle(ActionAuthorize, func(ctx context.Context, payload json.RawMessage) (any, error) {
			var req AuthorizeRequest
			if err := Decode(payload, &req); err != nil {
				return nil, err
			}
			return nil, &Error{Code: CodeGenericError, Description: "nope", Details: map[string]any{"code": "x"}}
		})
		p.Handle(ActionListJobs, func(ctx context.Context, payload json.RawMessage) (any, error) {
			return nil, errors.New("disk on fire")
		})
	})
	ctx := context.Background()
	var hb HeartbeatResponse
	if err := client.Call(ctx, ActionHeartbeat, HeartbeatRequest{}, &hb); err != nil || hb.ServerTime.Year() != 2026 {
		t.Fatalf("heartbeat: %v %v", hb, err)
	}
	tests := []struct {
		action, code string
	}{
		{ActionAuthorize, CodeGenericError},
		{ActionListJobs, CodeInternalError},
		{"NoSuchAction", CodeNotImplemented},
	}
	for _, tc := range tests {
		err := client.Call(ctx, tc.action, map[string]string{"card": "1"}, nil)
		var perr *Error
		if !errors.As(err, &perr) || perr.Code != tc.code {
			t.Errorf("%s: err %v, want code %s", tc.action, err, tc.code)
		}
	}
	// A payload that does not fit the type is a FormationViolation.
	err := client.Call(ctx, ActionAuthorize, []int{1}, nil)
	var perr *Error
	if !errors.As(err, &perr) || perr.Code != CodeFormationViolation {
		t.Errorf("bad payload: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	client := pair(t, func(p *Peer) {
		p.Handle("Echo", func(ctx context.Context, payload json.RawMessage) (any, error) {
			return payload, nil
		})
	})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got int
			if err := client.Call(context.Background(), "Echo", i, &got); err != nil || got != i {
				t.Errorf("call %d: got %d, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}

func TestCallAfterClose(t *testing.T) {
	client := pair(t, func(p *Peer) {})
	_ = client.Close()
	<-client.Done()
	if err := client.Call(context.Background(), ActionHeartbeat, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
}

func TestCallTimeout(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	client := pair(t, func(p *Peer) {
		p.Handle("Slow", func(ctx context.Context, payload json.RawMessage) (any, error) {
			<-block
			return nil, nil
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := client.Call(ctx, "Slow", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call: %v", err)
	}
}

// FuzzDispatch feeds arbitrary frames to a peer: it must never panic, and
// it answers only well-formed calls.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		`[2,"1","Heartbeat",{}]`, `[3,"1",{}]`, `[4,"1","GenericError","x",{}]`, `[2,"1"]`, `[]`, `{}`,
		`[2,1,"Heartbeat",{}]`, `[9,"1",{}]`, `[4,"7"]`, `[2,"","Heartbeat",{}]`, `null`, `[2,"1",5,{}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &Peer{logger: slog.New(slog.DiscardHandler), handlers: map[string]Handler{}, pending: map[string]chan frame{"1": make(chan frame, 1)}, done: make(chan struct{})}
		var wg sync.WaitGroup
		// Frames that need an answer would write to a nil websocket; only
		// CALLs trigger writes, so skip those and check the rest never panic.
		if callID.Match(data) {
			return // answered with a CALLERROR: a write
		}
		var raw []json.RawMessage
		if json.Unmarshal(data, &raw) == nil && len(raw) > 0 {
			var typ int
			if json.Unmarshal(raw[0], &typ) == nil && typ == typeCall {
				return
			}
		}
		if err := p.dispatch(context.Background(), data, &wg); err != nil {
			t.Fatalf("dispatch: %v", err)
		}
		wg.Wait()
	})
}

// TestUnreadableMessagesKeepTheConnection: a message beyond MaxMessage, or
// one that is not JSON, is answered with a FormationViolation when its
// CALL id can be read from its start and dropped otherwise; the
// connection stays and the next CALL is answered.
func TestUnreadableMessagesKeepTheConnection(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		p := NewPeer(ws, slog.New(slog.DiscardHandler))
		p.MaxMessage = 1024
		p.Handle(ActionHeartbeat, func(ctx context.Context, payload json.RawMessage) (any, error) {
			return HeartbeatResponse{}, nil
		})
		_ = p.Run(r.Context())
	}))
	defer srv.Close()
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	answer := func(send string) []json.RawMessage {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
			t.Fatal(err)
		}
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no answer to %.40s...: %v", send, err)
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		return raw
	}
	pad := strings.Repeat("x", 2000)
	for _, tc := range []struct{ name, send, id string }{
		{"oversized", `[2,"big-1","Heartbeat",{"pad":"` + pad + `"}]`, "big-1"},
		{"truncated", `[2,"bad-1","Heartbeat",{`, "bad-1"},
	} {
		raw := answer(tc.send)
		if len(raw) < 3 || string(raw[0]) != "4" || string(raw[1]) != strconv.Quote(tc.id) || string(raw[2]) != `"FormationViolation"` {
			t.Errorf("%s: answered %s", tc.name, raw)
		}
	}
	// Without a readable id: dropped; the next CALL is still answered.
	if err := ws.WriteMessage(websocket.TextMessage, []byte(pad+pad)); err != nil {
		t.Fatal(err)
	}
	if raw := answer(`[2,"ok-1","Heartbeat",{}]`); string(raw[0]) != "3" || string(raw[1]) != `"ok-1"` {
		t.Errorf("after a dropped message: %s", raw)
	}
}

// TestLookup: an action that Handle did not register is looked up when its
// CALL comes; Handle's own win, and an action Lookup does not know is
// NotImplemented.
func TestLookup(t *testing.T) {
	answer := func(s string) Handler {
		return func(ctx context.Context, payload json.RawMessage) (any, error) {
			return map[string]string{"by": s}, nil
		}
	}
	client := pair(t, func(p *Peer) {
		p.Handle(ActionHeartbeat, answer("handle"))
		p.Lookup = func(action string) Handler {
			switch action {
			case ActionHeartbeat, ActionAuthorize:
				return answer("lookup")
			}
			return nil
		}
	})
	tests := []struct{ action, by, code string }{
		{ActionHeartbeat, "handle", ""},
		{ActionAuthorize, "lookup", ""},
		{ActionListJobs, "", CodeNotImplemented},
	}
	for _, tc := range tests {
		var got map[string]string
		err := client.Call(context.Background(), tc.action, struct{}{}, &got)
		var perr *Error
		switch {
		case tc.code != "" && (!errors.As(err, &perr) || perr.Code != tc.code):
			t.Errorf("%s: err %v, want %s", tc.action, err, tc.code)
		case tc.code == "" && (err != nil || got["by"] != tc.by):
			t.Errorf("%s: %v %v, want by %s", tc.action, got, err, tc.by)
		}
	}
}
