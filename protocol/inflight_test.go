package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestMaxInFlight: beyond MaxInFlight calls being handled, a CALL is
// answered at once with a temporary error, and the peer's own calls still
// get their results meanwhile; once a handler ends, calls are taken again.
func TestMaxInFlight(t *testing.T) {
	const max = 2
	release := make(chan struct{})
	started := make(chan struct{}, 16)
	var server *Peer
	client := pair(t, func(p *Peer) {
		server = p
		p.MaxInFlight = max
		p.Handle(ActionAuthorize, func(ctx context.Context, _ json.RawMessage) (any, error) {
			started <- struct{}{}
			<-release
			return AuthorizeResponse{Status: AuthAccepted}, nil
		})
	})
	client.Handle(ActionHeartbeat, func(context.Context, json.RawMessage) (any, error) {
		return HeartbeatResponse{}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, max)
	for range max {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- client.Call(ctx, ActionAuthorize, AuthorizeRequest{Card: "c"}, nil)
		}()
	}
	for range max {
		<-started
	}
	// One more is refused at once, with a temporary error.
	err := client.Call(ctx, ActionAuthorize, AuthorizeRequest{Card: "c"}, nil)
	var perr *Error
	if !errors.As(err, &perr) || perr.Code != CodeInternalError || perr.Permanent() {
		t.Fatalf("call beyond %d in flight: %v, want a temporary InternalError", max, err)
	}
	// The server's own calls still get their results.
	if err := server.Call(ctx, ActionHeartbeat, nil, nil); err != nil {
		t.Fatalf("server's own call while full: %v", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call in flight: %v", err)
		}
	}
	if err := client.Call(ctx, ActionAuthorize, AuthorizeRequest{Card: "c"}, nil); err != nil {
		t.Errorf("call after the others ended: %v", err)
	}
}
