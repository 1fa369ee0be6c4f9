package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/session"
)

// Tasks that act for a person (issue 12: login, the QR login's end, and
// release-job, mobile release). The hub adds to the payload what a login
// at the panel would have given: the user, their policy and a login token
// bound to this agent and user.

// people is the part of the session a person's task uses
// (session.Manager).
type people interface {
	LoginAs(ctx context.Context, user protocol.User, token string) error
	ReleaseFor(ctx context.Context, user protocol.User, token, jobID string) (session.Result, error)
}

// personPayload is a login or release-job payload as the hub delivers it.
type personPayload struct {
	Username   string           `json:"username"`
	JobID      string           `json:"job_id"`
	User       *protocol.User   `json:"user"`
	Policy     *protocol.Policy `json:"policy"`
	LoginToken string           `json:"login_token"`
}

// user is the person the task acts for, with their policy.
func (p personPayload) user() (protocol.User, error) {
	if p.User == nil || p.User.Username == "" || p.LoginToken == "" {
		return protocol.User{}, errors.New("payload: the hub gave no user or login token")
	}
	if p.Username != "" && p.Username != p.User.Username {
		return protocol.User{}, fmt.Errorf("payload: username %q is not the user %q", p.Username, p.User.Username)
	}
	u := *p.User
	if u.Policy == nil {
		u.Policy = p.Policy
	}
	return u, nil
}

// releaseJobResult is a release-job task's result: the job's state when
// the task ended (printed, or still printing when the task's time ran
// out: the job's own status reaches the hub as for any release).
type releaseJobResult struct {
	JobID  string `json:"job_id"`
	State  string `json:"state"`
	Pages  int    `json:"impressions,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// person reads a person's task: its payload and the user it acts for.
func (t *taskRunner) person(req protocol.TaskRequest) (personPayload, protocol.User, error) {
	var p personPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return p, protocol.User{}, err
	}
	u, err := p.user()
	if err == nil && t.people == nil {
		err = errors.New("no panel session")
	}
	return p, u, err
}

// login opens the person's session at the panel.
func (t *taskRunner) login(ctx context.Context, req protocol.TaskRequest) (any, error) {
	p, u, err := t.person(req)
	if err != nil {
		return nil, err
	}
	if err := t.people.LoginAs(ctx, u, p.LoginToken); err != nil {
		return nil, fmt.Errorf("log %s in: %w", u.Username, err)
	}
	return map[string]string{"username": u.Username}, nil
}

// releaseJob releases the hub job for the person and follows it until it
// ends or the task's time runs out.
func (t *taskRunner) releaseJob(ctx context.Context, req protocol.TaskRequest) (any, error) {
	p, u, err := t.person(req)
	if err != nil {
		return nil, err
	}
	if p.JobID == "" || strings.Contains(p.JobID, ":") {
		return nil, fmt.Errorf("payload: job_id %q: a hub job id", p.JobID)
	}
	id := hubSource{}.Name() + ":" + p.JobID
	progress, stop := t.jobs.watch(id)
	defer stop()
	res, err := t.people.ReleaseFor(ctx, u, p.LoginToken, id)
	if err != nil {
		return nil, fmt.Errorf("release %s for %s: %w", p.JobID, u.Username, err)
	}
	if res.State != release.StateQueued {
		return nil, fmt.Errorf("release %s for %s: %s (%s)", p.JobID, u.Username, res.State, res.Reason)
	}
	out := releaseJobResult{JobID: p.JobID, State: res.State}
	for {
		select {
		case <-ctx.Done():
			return out, nil
		case pr := <-progress:
			out.State, out.Reason = pr.State, pr.Reason
			switch pr.State {
			case release.StatePrinted:
				out.Pages = pr.Impressions
				return out, nil
			case release.StateFailed, release.StateUncertain:
				b, _ := json.Marshal(out)
				return nil, fmt.Errorf("job %s %s: %s %s", p.JobID, pr.State, pr.Reason, b)
			}
		}
	}
}

// jobWatch passes the release engine's progress to the tasks following
// a job.
type jobWatch struct {
	mu    sync.Mutex
	byJob map[string]chan release.Progress
}

// watch follows job id until stop is called.
func (w *jobWatch) watch(id string) (<-chan release.Progress, func()) {
	ch := make(chan release.Progress, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byJob == nil {
		w.byJob = map[string]chan release.Progress{}
	}
	w.byJob[id] = ch
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.byJob, id)
	}
}

// progress hands p to the task following its job, if any, without
// blocking the engine: the channel holds the latest state only, so a task
// behind misses intermediate states, never the last one.
func (w *jobWatch) progress(p release.Progress) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.byJob[p.JobID]
	if !ok {
		return
	}
	select {
	case <-ch:
	default:
	}
	ch <- p
}
