package cloudlink

import (
	"context"
	"testing"
	"time"
)

// OnDial is called before each attempt to connect.
func TestOnDial(t *testing.T) {
	dials := make(chan struct{}, 8)
	l, err := New(Config{HubURL: "http://127.0.0.1:1", AgentID: "a", Version: "test",
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnDial: func() {
			select {
			case dials <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		select {
		case <-dials:
		case <-time.After(10 * time.Second):
			t.Fatalf("dial %d: OnDial not called", i)
		}
	}
}
