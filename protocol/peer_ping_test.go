package protocol

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A peer whose other side reads answers a ping; one whose other side
// never reads (a half-open connection, as far as pings go) does not, and
// Ping ends with its context; a closed peer fails at once.
func TestPing(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		client := pair(t, func(*Peer) {})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for range 3 {
			if err := client.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
		}
	})
	t.Run("never answered", func(t *testing.T) {
		release := make(chan struct{})
		up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer ws.Close()
			<-release // holds the connection and never reads it
		}))
		defer srv.Close()
		defer close(release)
		ws, _, err := (&websocket.Dialer{Subprotocols: []string{Subprotocol}}).Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		p := NewPeer(ws, slog.New(slog.DiscardHandler))
		done := make(chan struct{})
		go func() { _ = p.Run(context.Background()); close(done) }()
		defer func() { p.Close(); <-done }()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := p.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ping of a side that never reads: %v, want the deadline", err)
		}
		p.Close()
		if err := p.Ping(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("ping after Close: %v", err)
		}
	})
}
