package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// The idle screen's QR login code (login mode qr, issue 12): while the hub
// is reachable and no one is at the panel, the agent holds a fresh code
// from the hub (LoginCode) and the panel shows its page's address as a QR
// code. A phone that opens it signs the person in at the hub, which sends
// this agent a login task (tasks_person.go).

const (
	// qrRefreshEarly is how long before a code's end the next is asked
	// for, so the screen never shows a dead code.
	qrRefreshEarly = 20 * time.Second
	// qrRetry is the wait after the hub failed to give a code.
	qrRetry = 30 * time.Second
	// qrMinLife bounds the refresh from below, whatever the hub says.
	qrMinLife = 10 * time.Second
)

// qrSession is the part of the session the QR code needs.
type qrSession interface {
	View() session.View
	Subscribe() (<-chan struct{}, func())
	SetQR(url string)
}

// qrLogin keeps the idle screen's QR code.
type qrLogin struct {
	link interface {
		Call(ctx context.Context, action string, req, resp any) error
		PageURL(path string) string
	}
	sess  qrSession
	clock clock.Clock
	log   *slog.Logger
}

// run keeps the code until ctx ends. A code is asked for when the screen
// becomes idle with the hub reachable and before the one shown ends; one
// shown is dropped when someone comes to the panel (it may be the one
// they used) or the hub is lost.
func (q *qrLogin) run(ctx context.Context) {
	changes, stop := q.sess.Subscribe()
	defer stop()
	var due <-chan time.Time // the shown code's refresh, or a retry
	var timer clock.Timer
	shown := false
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		v := q.sess.View()
		wanted := v.State == session.StateIdle && v.Cloud == "online"
		switch {
		case !wanted && shown:
			q.sess.SetQR("")
			timer.Stop()
			shown, due = false, nil
		case wanted && !shown && due == nil:
			life := q.fetch(ctx)
			shown = life > 0
			if !shown {
				life = qrRetry
			}
			if timer != nil {
				timer.Stop()
			}
			timer, due = q.clock.NewTimer(life)
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-due:
			shown, due = false, nil
		}
	}
}

// fetch asks the hub for a code and shows it; it returns how long until
// the next should be asked for, 0 when none came.
func (q *qrLogin) fetch(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var resp protocol.LoginCodeResponse
	if err := q.link.Call(ctx, protocol.ActionLoginCode, struct{}{}, &resp); err != nil {
		q.log.Warn("no QR login code from the hub", "err", err)
		return 0
	}
	if !qrCodeOK(resp.Code) {
		q.log.Warn("the hub's QR login code is malformed")
		return 0
	}
	q.sess.SetQR(q.link.PageURL(protocol.QRLoginPath + resp.Code))
	// The hub's TTL, on this box's monotonic clock: its wall clock may be
	// anything.
	return max(time.Duration(resp.TTL)*time.Second-qrRefreshEarly, qrMinLife)
}

// qrCodeOK accepts what may go into a URL path as is.
func qrCodeOK(code string) bool {
	if code == "" || len(code) > protocol.MaxIDLength {
		return false
	}
	for _, c := range code {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
