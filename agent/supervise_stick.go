package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/firmware/media"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// The supervisor's side of USB provisioning (provision.go): a settled
// stick is applied between two systems, as a set-config is: the new
// system built first (a config that does not validate, or files that do
// not load, refuse the stick), the running one stopped, the new one
// started and checked, the previous override restored on failure. An
// agent whose config lacks a hub or a printer waits for a stick instead
// of stopping: that is how a technician sets up a new box.

// watchSticks runs the media watcher on roots; the sticks it reports
// come on the channel (nil, which never delivers, without roots).
func (sv *supervisor) watchSticks(ctx context.Context, roots []string) <-chan string {
	if len(roots) == 0 {
		return nil
	}
	ch := make(chan string)
	w := &media.Watcher{Roots: roots, Clock: sv.clock, Log: sv.log}
	go w.Run(ctx, func(stick string) {
		select {
		case ch <- stick:
		case <-ctx.Done():
		}
	})
	return ch
}

// unprovisioned reports whether cfg lacks only what provisioning gives, a
// hub or a printer: with them it would validate. Such an agent waits for
// a stick; a config wrong in other ways is an error to fix, told at once.
func unprovisioned(cfg config.Config) bool {
	if cfg.HubURL != "" && cfg.PrinterURI != "" {
		return false
	}
	probe := cfg
	if probe.HubURL == "" {
		probe.HubURL = "https://hub.invalid"
	}
	if probe.PrinterURI == "" {
		probe.PrinterURI = "ipp://printer.invalid/ipp/print"
	}
	return probe.Validate() == nil
}

// applyStick applies the stick's provisioning and writes its result; it
// returns the instance that runs next (in itself when refused; nil while
// no system runs), or an error when no configuration can run any more.
func (sv *supervisor) applyStick(ctx context.Context, in *instance, stick string) (*instance, error) {
	log := sv.log.With("stick", stick)
	res := stickResult{Status: "refused", Version: sv.opts.Version}
	// A root's revocation list only ever judges keys: kept first, so the
	// stick's own bundle is judged by it, and whatever the rest becomes.
	keptList, revoked := sv.stickRevocations(stick)
	applied, err := readApplied(sv.cfg.DataDir)
	var plan *stickPlan
	if err != nil {
		res.Refused = []refusal{{Reason: firmware.ReasonMalformed, Detail: "this agent's list of applied provisionings is unreadable"}}
		log.Error("provisioning: applied ids unreadable", "err", err)
	} else {
		plan, res.Refused = planStick(stick, sv.cfg, applied, log)
	}
	next := in
	if plan != nil {
		res.ID = plan.id
		if next, res.Refused, err = sv.runStick(ctx, in, plan); err != nil || (next == nil && ctx.Err() != nil) {
			return nil, err
		}
	}
	if len(res.Refused) == 0 {
		res.Status, res.Applied = "applied", plan.keys()
		log.Info("provisioning applied", "id", plan.id, "key", plan.key.ID(), "applied", res.Applied)
	} else {
		log.Warn("provisioning refused; nothing changed", "id", res.ID, "refused", res.Refused)
	}
	if revoked != nil {
		res.Refused = append(res.Refused, *revoked)
	}
	if keptList {
		res.Applied = append(res.Applied, "revocations")
	}
	var switchTo func() *instance
	if res.Status == "applied" && plan.bundle != "" {
		var r *refusal
		if r, switchTo = sv.stickBundle(ctx, next, plan.bundle); r != nil {
			// The configuration stays: it runs, healthy. The result
			// says the bundle was not installed, and why.
			res.Refused = append(res.Refused, *r)
			log.Warn("provisioning: the stick's bundle refused", "reason", r.Reason, "detail", r.Detail)
		} else {
			res.Applied = append(res.Applied, "bundle")
		}
	}
	sv.writeResult(ctx, stick, next, res, log)
	if switchTo != nil {
		return switchTo(), nil
	}
	return next, nil
}

// writeResult writes res to the stick, named for this agent. A stick left
// in across a restart (its bundle's, say) is read again and refused as
// replayed: that does not overwrite the result of its own application.
func (sv *supervisor) writeResult(ctx context.Context, stick string, in *instance, res stickResult, log *slog.Logger) {
	res.AgentID, res.PrinterSerial = sv.identity(ctx, in)
	res.At = sv.clock.Now().UTC().Format("2006-01-02T15:04:05Z")
	if len(res.Refused) == 1 && res.Refused[0].Reason == firmware.ReasonReplayed {
		if prev, err := readStickResult(stick, res.AgentID); err == nil && prev.Status == "applied" && prev.ID == res.ID {
			log.Info("provisioning: the stick applied here before is still in; its result stays")
			return
		}
	}
	if err := writeStickResult(stick, res); err != nil {
		log.Warn("provisioning result not written to the stick", "err", err)
	}
}

// runStick builds the plan's system, swaps it in and checks its health;
// on any failure the previous override is back and in (or nothing, if
// nothing ran) runs again. A marker (stickPending) makes a kill anywhere
// in between restore the previous override at the next start. The error
// says the previous configuration cannot run again either.
func (sv *supervisor) runStick(ctx context.Context, in *instance, plan *stickPlan) (*instance, []refusal, error) {
	dir := filepath.Join(provisionDir(sv.cfg.DataDir), plan.id)
	refuse := func(detail string) []refusal {
		_ = os.RemoveAll(dir)
		return []refusal{{Reason: firmware.ReasonInvalid, Detail: detail}}
	}
	previous, err := config.ReadOverride(config.OverridePath(sv.cfg.DataDir))
	if err != nil {
		return in, refuse("this agent's override file is unreadable"), nil
	}
	if err := plan.writeFiles(); err != nil {
		return in, refuse(err.Error()), nil
	}
	override := previous.Merge(plan.patch)
	cfg, sys, err := sv.buildStick(override, plan.patch)
	if err != nil {
		return in, refuse(invalid([]error{err}).Error()), nil
	}
	pending := stickPendingPath(sv.cfg.DataDir)
	if err := writeStickPending(pending, stickPending{ID: plan.id, Previous: previous}); err != nil {
		return in, refuse(err.Error()), nil
	}
	if err := config.WriteOverride(config.OverridePath(sv.cfg.DataDir), override); err != nil {
		_ = removeFile(pending)
		return in, refuse(err.Error()), nil
	}
	if in != nil {
		sv.log.Info("provisioning: stopping the running system", "id", plan.id)
		if err := in.stop(); err != nil {
			sv.log.Warn("the running system stopped with an error", "err", err)
		}
	}
	next := sv.start(ctx, sys)
	if err := sv.checkHealth(ctx, next, false); err != nil {
		refused := refuse(fmt.Sprintf("health check failed: %v; rolled back", err))
		back, err := sv.stickRollback(ctx, next, in != nil, previous)
		return back, refused, err
	}
	sv.cfg = cfg
	if err := recordApplied(sv.cfg.DataDir, plan.id); err != nil {
		// Applied and running; the stick would apply again (the same).
		sv.log.Error("provisioning id not recorded", "id", plan.id, "err", err)
	}
	if err := removeFile(pending); err != nil {
		sv.log.Error("provisioning: the pending marker not removed", "err", err)
	}
	pruneProvisionDirs(sv.cfg.DataDir, override)
	return next, nil, nil
}

// buildStick makes the config with override and its system (which opens
// nothing): it must validate, its files load, and no command-line flag
// hide a key the stick sets.
func (sv *supervisor) buildStick(override, patch config.Override) (config.Config, *System, error) {
	cfg, err := sv.layers.With(override)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		err = errors.Join(flagsWin(cfg, patch)...)
	}
	if err != nil {
		return cfg, nil, err
	}
	sys, err := Build(cfg, sv.opts)
	return cfg, sys, err
}

// stickRollback stops the new system, restores the previous override and
// starts the previous config again if one ran; the error says it cannot.
func (sv *supervisor) stickRollback(ctx context.Context, next *instance, wasRunning bool, previous config.Override) (*instance, error) {
	if err := next.stop(); err != nil {
		sv.log.Warn("the new system stopped with an error", "err", err)
	}
	if err := config.WriteOverride(config.OverridePath(sv.cfg.DataDir), previous); err != nil {
		return nil, fmt.Errorf("provisioning: the previous override file not restored: %w", err)
	}
	if err := removeFile(stickPendingPath(sv.cfg.DataDir)); err != nil {
		sv.log.Error("provisioning: the pending marker not removed", "err", err)
	}
	if !wasRunning || ctx.Err() != nil {
		return nil, nil
	}
	sys, err := Build(sv.cfg, sv.opts)
	if err != nil {
		return nil, fmt.Errorf("provisioning: the previous configuration does not build again: %w", err)
	}
	return sv.start(ctx, sys), nil
}

// stickRevocations keeps the revocation list a stick carries beside its
// provisioning pair (tessera/revocations.json), if newer than the kept
// one; it says whether it kept it, or why not (an older list is no
// refusal: the agent knows better already).
func (sv *supervisor) stickRevocations(stick string) (kept bool, _ *refusal) {
	data, err := os.ReadFile(filepath.Join(stick, media.Dir, "revocations.json"))
	if err != nil {
		return false, nil // none on this stick (or gone: the pair's read says so)
	}
	refused := func(err error) (bool, *refusal) {
		sv.log.Warn("provisioning: the stick's revocation list not kept", "err", err)
		r := refusalOf("revocations", err)
		return false, &r
	}
	roots := sv.opts.UpdateRoots
	if roots == nil {
		if roots, err = firmware.Roots(""); err != nil {
			return refused(err)
		}
	}
	var before uint64
	if k, _ := loadRevocations(sv.cfg.DataDir, roots); k != nil {
		before = k.Serial
	}
	serial, err := sv.opts.revocations.keep(roots, data)
	switch {
	case firmware.ReasonOf(err) == firmware.ReasonRollback:
		sv.log.Info("provisioning: the stick's revocation list is older than the kept one", "kept", serial)
		return false, nil
	case err != nil:
		return refused(err)
	}
	sv.log.Info("provisioning: revocation list kept", "serial", serial)
	return serial != before, nil
}

// identity is what the result names the agent by: its id and the
// printer's serial (the expected one, or the one on the wire).
func (sv *supervisor) identity(ctx context.Context, in *instance) (agentID, serial string) {
	serial = sv.cfg.PrinterSerial
	if in != nil && in.r != nil {
		agentID, _ = in.r.store.AgentID(ctx)
		if p := in.r.ident.Load(); serial == "" && p != nil {
			serial = p.Serial
		}
		return agentID, serial
	}
	// No system runs: the store is free to open for its id.
	if err := os.MkdirAll(sv.cfg.DataDir, 0o700); err == nil {
		if s, err := offline.Open(ctx, filepath.Join(sv.cfg.DataDir, "tessera.db"), offline.Options{}); err == nil {
			agentID, _ = s.AgentID(ctx)
			s.Close()
		}
	}
	return agentID, serial
}

// stickBundle verifies and installs the update bundle a stick carried
// (the update-agent task's checks: signature chain, revocations,
// platform, expiry by the time rule, no downgrade; the installed binary
// run once), after the stick's configuration is running in in. It
// returns the refusal, or a function that switches to the new version
// and re-executes it, on trial, once the result is on the stick.
func (sv *supervisor) stickBundle(ctx context.Context, in *instance, bundle string) (*refusal, func() *instance) {
	refused := func(err error) (*refusal, func() *instance) {
		r := refusalOf("bundle", err)
		return &r, nil
	}
	u, slots, ok := updater(sv.cfg.DataDir, sv.opts.Version, sv.opts.UpdateStepHook)
	if !ok {
		return refused(errors.New("this agent does not run from update slots (DATA/slots): install it from the package"))
	}
	var earliest time.Time
	if in != nil && in.r != nil {
		earliest, _ = in.r.floor.Bound()
	}
	policy, err := updatePolicyFor(sv.opts, earliest, false)
	if err != nil {
		return refused(err)
	}
	st, err := u.Install(bundle, policy, "stick")
	if err == nil {
		err = checkInstalled(ctx, slots, st, st.To)
		// An update switches only while the agent is quiet: no one at
		// the panel, the printer not printing (as the update-agent task
		// waits, up to 20 minutes; the result is written after).
		if err == nil && in != nil && in.r != nil && in.r.tasks != nil {
			err = in.r.tasks.waitIdle(ctx, "")
		}
		if err != nil {
			if aerr := u.Abandon(); aerr != nil {
				sv.log.Error("provisioning: the refused install not dropped", "err", aerr)
			}
		}
	}
	if err != nil {
		return refused(err)
	}
	return nil, func() *instance {
		if err := u.Switch(); err != nil {
			sv.log.Error("provisioning: the new version not switched to", "to", st.To, "err", err)
			return in
		}
		sv.log.Info("provisioning: switched to the stick's version; re-executing", "from", st.From, "to", st.To)
		if in != nil {
			if err := in.stop(); err != nil {
				sv.log.Warn("the running system stopped with an error", "err", err)
			}
		}
		next, err := sv.execUpdate(ctx, handoverRequest{h: handover{ID: "stick", Type: protocol.TaskUpdateAgent}})
		if err != nil {
			sv.log.Error("provisioning: after a failed re-exec", "err", err)
		}
		return next
	}
}
