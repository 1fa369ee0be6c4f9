package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/protocol"
)

// The supervisor (the cloud-link issue, set-config and restart): the task
// runner lives inside a running System, so a task that replaces the
// system hands itself over to a loop above it. The loop runs one System
// at a time; on a set-config it stops the running one (gracefully, as at
// SIGTERM: the releases in flight end first, the listeners are closed),
// starts the new one and checks its health, and on failure starts the
// previous config again; on a restart it stops the running one and
// re-executes the binary. The task's outcome crosses the swap in the
// handover file (handover.go): the next system's task runner reports it.

const (
	// swapHealthTimeout bounds the new system's health check: running
	// (store opened and migrated, listeners bound), the panel answering,
	// the hub link up if it was up before.
	swapHealthTimeout = 30 * time.Second
	// linkPollInterval is how often the health check looks at the link.
	linkPollInterval = 50 * time.Millisecond
)

// supervisor runs the agent's systems one after the other.
type supervisor struct {
	opts   Options
	layers config.Layers
	log    *slog.Logger
	clock  clock.Clock
	// health bounds the health check (swapHealthTimeout; shorter in
	// tests).
	health time.Duration
	// exec re-executes the binary (Options.Exec, or the update slot
	// link's or its own: execBinary).
	exec func() error
	// requests carries a task's handover from the running system's task
	// runner.
	requests chan handoverRequest

	// cfg is the config of the system running; the supervisor's
	// goroutine alone reads and writes it.
	cfg config.Config
	// trial: this process is a new version on trial after an update
	// (supervise_update.go).
	trial bool
}

// handoverRequest is a task handed over to the supervisor: a set-config
// with its new system built, a restart, or a factory reset (the
// technician's or an unregister task's: supervise_reset.go).
type handoverRequest struct {
	h   handover
	sys *System // set-config: the new system
	cfg config.Config
	// force: a factory reset loses unsent accounting records.
	force bool
}

// Run builds the agent cfg describes and runs it until ctx ends; a
// set-config task swaps a new system in, a restart task re-executes the
// binary.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	sv, cfg, err := newSupervisor(cfg, opts)
	if err != nil {
		return err
	}
	return sv.run(ctx, cfg)
}

// newSupervisor makes the supervisor and settles a handover a previous
// process left (handover.go), which may restore the previous override
// file and so change the config.
func newSupervisor(cfg config.Config, opts Options) (*supervisor, config.Config, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.revocations = &revocationStore{dir: cfg.DataDir}
	sv := &supervisor{opts: opts, log: log.With("component", "supervisor"), clock: clock.OrReal(opts.Clock),
		health: swapHealthTimeout, exec: opts.Exec, requests: make(chan handoverRequest)}
	if sv.exec == nil {
		sv.exec = execBinary(cfg.DataDir)
	}
	if opts.Layers != nil {
		sv.layers = *opts.Layers
	} else {
		// A config given as it is (tests, the demo): the override file
		// in its data directory still applies.
		base := cfg
		sv.layers = config.Layers{Base: &base}
		var err error
		if cfg, _, err = sv.layers.Load(); err != nil {
			return nil, cfg, err
		}
	}
	sv.noteReset(cfg.DataDir)
	trial, err := sv.settleUpdate(cfg)
	if err != nil {
		return nil, cfg, err
	}
	sv.trial = trial
	if cfg, err = sv.settleHandover(cfg); err != nil {
		return sv, cfg, err
	}
	cfg, err = sv.settleStick(cfg)
	return sv, cfg, err
}

// run runs cfg's system, then each system a handover brings, until ctx
// ends or a system fails.
func (sv *supervisor) run(ctx context.Context, cfg config.Config) error {
	sv.cfg = cfg
	sticks := sv.watchSticks(ctx, cfg.MediaRoots)
	in, err := sv.first(ctx, cfg, sticks != nil)
	if err != nil || ctx.Err() != nil {
		return err
	}
	for {
		var done <-chan struct{} // nil while no system runs
		if in != nil {
			done = in.done
		}
		select {
		case <-done:
			return in.err
		case <-ctx.Done():
			if in != nil {
				return in.stop()
			}
			return nil
		case req := <-sv.requests:
			next, err := sv.apply(ctx, in, req)
			if err != nil || next == nil {
				return err
			}
			in = next
		case stick := <-sticks:
			if in, err = sv.applyStick(ctx, in, stick); err != nil {
				return err
			}
		}
	}
}

// first starts cfg's system, on trial after an update; an unprovisioned
// agent watching for sticks starts none (nil) and waits for one.
func (sv *supervisor) first(ctx context.Context, cfg config.Config, watching bool) (*instance, error) {
	sys, err := Build(cfg, sv.opts)
	if err != nil {
		if sv.trial {
			return nil, sv.trialFailed(ctx, nil, fmt.Errorf("did not start: %w", err))
		}
		if watching && unprovisioned(cfg) {
			sv.log.Warn("not provisioned (no hub_url or printer_uri): waiting for a provisioning stick",
				"media_roots", cfg.MediaRoots, "err", err)
			return nil, nil
		}
		return nil, err
	}
	in := sv.start(ctx, sys)
	if sv.trial {
		if err := sv.trialCheck(ctx, in); err != nil || ctx.Err() != nil {
			in.stop()
			return nil, err
		}
	}
	return in, nil
}

// request hands a task over to the supervisor.
func (sv *supervisor) request(ctx context.Context, req handoverRequest) error {
	select {
	case sv.requests <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// instance is a System running under the supervisor.
type instance struct {
	cancel context.CancelFunc
	ready  chan struct{} // closed once running: r is set
	done   chan struct{} // closed once Run returned: err is set
	r      *running
	err    error
}

// start runs sys in the background.
func (sv *supervisor) start(ctx context.Context, sys *System) *instance {
	ictx, cancel := context.WithCancel(ctx)
	in := &instance{cancel: cancel, ready: make(chan struct{}), done: make(chan struct{})}
	sys.sv = sv
	sys.onRun = func(r *running) {
		in.r = r
		close(in.ready)
	}
	go func() {
		defer close(in.done)
		in.err = sys.Run(ictx)
	}()
	return in
}

// stop stops the instance gracefully and waits until it has released
// what it held (store, listeners, readers).
func (in *instance) stop() error {
	in.cancel()
	<-in.done
	return in.err
}

// apply carries out a handed-over task; it returns the instance that runs
// next, or nil when ctx ended.
func (sv *supervisor) apply(ctx context.Context, in *instance, req handoverRequest) (*instance, error) {
	wasOnline := in.r.link.Online()
	sv.log.Info("stopping the running system", "task", req.h.ID, "type", req.h.Type)
	if err := in.stop(); err != nil {
		sv.log.Warn("the running system stopped with an error", "err", err)
	}
	switch req.h.Type {
	case protocol.TaskRestart:
		return sv.restart(ctx, req)
	case protocol.TaskUpdateAgent:
		return sv.execUpdate(ctx, req)
	case handoverFactoryReset, protocol.TaskUnregister:
		return sv.factoryReset(ctx, req)
	}
	return sv.swap(ctx, req, wasOnline)
}

// swap starts the new system of a set-config and checks its health; on
// failure it stops it, restores the previous override file and starts
// the previous config again.
func (sv *supervisor) swap(ctx context.Context, req handoverRequest, needLink bool) (*instance, error) {
	next := sv.start(ctx, req.sys)
	err := sv.checkHealth(ctx, next, needLink)
	if err == nil {
		sv.cfg = req.cfg
		sv.log.Info("new configuration running", "task", req.h.ID)
		h := req.h
		h.State = protocol.TaskCompleted
		if err := writeHandover(handoverPath(sv.cfg.DataDir), h); err != nil {
			sv.log.Error("set-config's outcome not stored", "task", h.ID, "err", err)
		}
		next.r.tasks.finishHandover(ctx)
		return next, nil
	}
	if serr := next.stop(); serr != nil {
		sv.log.Warn("the new system stopped with an error", "err", serr)
	}
	if ctx.Err() != nil {
		return nil, nil // stopping: the next start restores the previous override
	}
	sv.log.Error("the new configuration failed its health check; rolling back", "task", req.h.ID, "err", err)
	h := req.h
	h.State, h.Result, h.Error = protocol.TaskFailed, nil, fmt.Sprintf("health check failed: %v; rolled back", err)
	return sv.rollback(ctx, h)
}

// rollback restores the previous override file, stores the task's
// failure h, and starts the running config again (whose task runner
// reports h).
func (sv *supervisor) rollback(ctx context.Context, h handover) (*instance, error) {
	if err := config.WriteOverride(config.OverridePath(sv.cfg.DataDir), h.Previous); err != nil {
		sv.log.Error("the previous override file not restored", "err", err)
	}
	if err := writeHandover(handoverPath(sv.cfg.DataDir), h); err != nil {
		sv.log.Error("the task's outcome not stored", "task", h.ID, "err", err)
	}
	sys, err := Build(sv.cfg, sv.opts)
	if err != nil {
		return nil, fmt.Errorf("restart the previous configuration: %w", err)
	}
	return sv.start(ctx, sys), nil
}

// restart re-executes the binary; it returns only if that failed, with
// the running config started again and the task failed.
func (sv *supervisor) restart(ctx context.Context, req handoverRequest) (*instance, error) {
	sv.log.Info("restarting: re-executing the binary", "task", req.h.ID)
	err := sv.exec()
	sv.log.Error("restart failed", "task", req.h.ID, "err", err)
	if ctx.Err() != nil {
		return nil, nil
	}
	h := req.h
	h.State, h.Error = protocol.TaskFailed, fmt.Sprintf("restart failed: %v", err)
	h.Previous = nil
	if err := writeHandover(handoverPath(sv.cfg.DataDir), h); err != nil {
		sv.log.Error("the task's outcome not stored", "task", h.ID, "err", err)
	}
	sys, err := Build(sv.cfg, sv.opts)
	if err != nil {
		return nil, fmt.Errorf("start again after a failed restart: %w", err)
	}
	return sv.start(ctx, sys), nil
}

// checkHealth waits, within sv.health, for the new system to run (its
// store opened and migrated, its listeners bound), its panel to answer an
// HTTP request, and, if needLink, its hub link to come up; a system that
// ran offline before may run offline after. The printer is not checked:
// it may be off while the agent is fine.
func (sv *supervisor) checkHealth(ctx context.Context, in *instance, needLink bool) error {
	timer, expired := sv.clock.NewTimer(sv.health)
	defer timer.Stop()
	select {
	case <-in.ready:
	case <-in.done:
		return fmt.Errorf("did not start: %w", errOr(in.err, errors.New("stopped")))
	case <-expired:
		return fmt.Errorf("not running after %s", sv.health)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := panelAnswers(ctx, in.r); err != nil {
		return err
	}
	for needLink && !in.r.link.Online() {
		poll, tick := sv.clock.NewTimer(linkPollInterval)
		select {
		case <-tick:
		case <-in.done:
			poll.Stop()
			return fmt.Errorf("stopped: %w", errOr(in.err, errors.New("stopped")))
		case <-expired:
			poll.Stop()
			return fmt.Errorf("the hub link is not up after %s (it was before)", sv.health)
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// errOr is err, or def when err is nil.
func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// panelAnswers asks the running panel for /healthz on its own listener:
// any HTTP answer below 500 shows it serves (a paired or host-bound
// panel may refuse the request itself, which is still an answer).
func panelAnswers(ctx context.Context, r *running) error {
	// The agent's own listener: the check is that it serves, not who it
	// is, so its certificate (often self-signed) is not verified.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // no proxy: a zero Transport has none
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.panelURL()+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("panel: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("panel: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("panel: HTTP %d", resp.StatusCode)
	}
	return nil
}
