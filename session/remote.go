package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// Sessions the hub opens (the cloud-link issue's login and release-job
// tasks): the person proved who they are elsewhere — on their phone, at
// the hub's QR page or in a mobile release — and the hub vouches for them
// with a login token bound to this agent and user.

// ErrBusy refuses a login or a release for someone while another person's
// session (or PIN prompt) is open at the panel: the hub must not end it or
// act beside it.
var ErrBusy = errors.New("another person's session is open at this printer")

// QRLogin is the QR login code the idle screen shows.
type QRLogin struct {
	// URL is what the QR code holds: the hub's sign-in page of the code.
	URL string `json:"url"`
}

// SetQR shows url as the idle screen's QR login code ("" hides it).
func (m *Manager) SetQR(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := ""
	if m.view.QR != nil {
		cur = m.view.QR.URL
	}
	if cur == url {
		return
	}
	m.view.QR = nil
	if url != "" {
		m.view.QR = &QRLogin{URL: url}
	}
	m.changed()
}

// Idle reports whether no one is at the panel: no session, no prompt.
func (m *Manager) Idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view.State == StateIdle
}

// othersSession reports whether the panel is taken by someone other than
// username: a session, a PIN prompt, a registration offer, or a lock after
// too many wrong guesses (which a login from elsewhere does not lift).
func (m *Manager) othersSession(username string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.view.State {
	case StateIdle:
		return false
	case StateActive:
		return m.view.User == nil || m.view.User.Username != username
	}
	return true
}

// LoginAs opens user's session on the hub's word (a login task): token is
// the login token the hub issued for it. It is refused while another
// person is at the panel, and, like every login, while the disk is full.
// The same person already logged in gets their list refreshed.
func (m *Manager) LoginAs(ctx context.Context, user protocol.User, token string) error {
	release, err := m.beginAttempt(ctx)
	if err != nil {
		return err
	}
	defer release()
	if m.othersSession(user.Username) {
		return ErrBusy
	}
	if le := m.storageFull(); le != nil {
		return le
	}
	m.activate(ctx, user, token, "", false, m.cfg.Logger.With("via", "hub"))
	return nil
}

// ReleaseFor releases one of user's jobs on the hub's word (a release-job
// task, mobile release), under the same rules as the panel: the policy's
// windows and quota, the cap, exactly-once claims. No session is shown:
// the person may not be at the printer yet, and their list stays private.
// If their own session is open, the job is released in it. It is refused
// while another person is at the panel.
func (m *Manager) ReleaseFor(ctx context.Context, user protocol.User, token, jobID string) (Result, error) {
	if m.othersSession(user.Username) {
		return Result{}, ErrBusy
	}
	if m.activeAs(user.Username) {
		if err := m.Refresh(ctx); err != nil {
			return Result{}, err
		}
		res, err := m.Release(ctx, ReleaseRequest{Jobs: []Choice{{ID: jobID}}})
		if err != nil {
			return Result{}, err
		}
		return res[0], nil
	}
	jobs, err := m.cfg.Jobs.Jobs(ctx, release.Who{Username: user.Username, LoginToken: token}, m.cfg.OldestFirst)
	if err != nil {
		return Result{}, fmt.Errorf("list jobs of %s: %w", user.Username, err)
	}
	r := releaseRequest{user: user.Username, token: token, jobs: make(map[string]release.Job, len(jobs)),
		choices: []Choice{{ID: jobID}}}
	for _, j := range jobs {
		r.jobs[j.ID] = j
	}
	if user.Policy != nil {
		r.policy = *user.Policy
	}
	m.cfg.Logger.Info("release for a person away from the panel", "user", user.Username, "job", jobID)
	return m.release(ctx, r)[0], nil
}

// activeAs reports whether username's own session is open.
func (m *Manager) activeAs(username string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view.State == StateActive && m.view.User != nil && m.view.User.Username == username
}
