package agent

import (
	"context"
	"errors"
	"fmt"
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

// unprovisioned reports whether cfg lacks what only provisioning gives:
// a hub and a printer. Such an agent waits for a stick.
func unprovisioned(cfg config.Config) bool {
	return cfg.HubURL == "" || cfg.PrinterURI == ""
}

// applyStick applies the stick's provisioning and writes its result; it
// returns the instance that runs next (in itself when refused; nil while
// no system runs).
func (sv *supervisor) applyStick(ctx context.Context, in *instance, stick string) *instance {
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
		plan, res.Refused = planStick(stick, sv.cfg, applied)
	}
	next := in
	if plan != nil {
		res.ID = plan.id
		next, res.Refused = sv.runStick(ctx, in, plan)
		if next == nil && ctx.Err() != nil {
			return nil
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
	res.AgentID, res.PrinterSerial = sv.identity(ctx, next)
	res.At = sv.clock.Now().UTC().Format("2006-01-02T15:04:05Z")
	if err := writeStickResult(stick, res); err != nil {
		log.Warn("provisioning result not written to the stick", "err", err)
	}
	if switchTo != nil {
		return switchTo()
	}
	return next
}

// runStick builds the plan's system, swaps it in and checks its health;
// on any failure the previous override is back and in (or nothing, if
// nothing ran) runs again.
func (sv *supervisor) runStick(ctx context.Context, in *instance, plan *stickPlan) (*instance, []refusal) {
	refuse := func(detail string) []refusal {
		_ = os.RemoveAll(filepath.Join(provisionDir(sv.cfg.DataDir), plan.id))
		return []refusal{{Reason: firmware.ReasonInvalid, Detail: detail}}
	}
	if err := plan.writeFiles(); err != nil {
		return in, refuse(err.Error())
	}
	previous, err := config.ReadOverride(config.OverridePath(sv.cfg.DataDir))
	if err != nil {
		return in, refuse(err.Error())
	}
	override := previous.Merge(plan.patch)
	cfg, err := sv.layers.With(override)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		err = errors.Join(flagsWin(cfg, plan.patch)...)
	}
	var sys *System
	if err == nil {
		sys, err = Build(cfg, sv.opts)
	}
	if err != nil {
		return in, refuse(invalid([]error{err}).Error())
	}
	if err := config.WriteOverride(config.OverridePath(sv.cfg.DataDir), override); err != nil {
		return in, refuse(err.Error())
	}
	if in != nil {
		sv.log.Info("provisioning: stopping the running system", "id", plan.id)
		if err := in.stop(); err != nil {
			sv.log.Warn("the running system stopped with an error", "err", err)
		}
	}
	next := sv.start(ctx, sys)
	if err := sv.checkHealth(ctx, next, false); err != nil {
		return sv.stickRollback(ctx, next, in != nil, previous, refuse(fmt.Sprintf("health check failed: %v; rolled back", err)))
	}
	sv.cfg = cfg
	if err := recordApplied(sv.cfg.DataDir, plan.id); err != nil {
		sv.log.Error("provisioning id not recorded: the stick would apply again", "id", plan.id, "err", err)
	}
	pruneProvisionDirs(sv.cfg.DataDir, plan.id)
	return next, nil
}

// stickRollback stops the new system, restores the previous override and
// starts the previous config again if one ran.
func (sv *supervisor) stickRollback(ctx context.Context, next *instance, wasRunning bool, previous config.Override, refused []refusal) (*instance, []refusal) {
	if err := next.stop(); err != nil {
		sv.log.Warn("the new system stopped with an error", "err", err)
	}
	if err := config.WriteOverride(config.OverridePath(sv.cfg.DataDir), previous); err != nil {
		sv.log.Error("the previous override file not restored", "err", err)
	}
	if !wasRunning || ctx.Err() != nil {
		return nil, refused
	}
	sys, err := Build(sv.cfg, sv.opts)
	if err != nil {
		sv.log.Error("the previous configuration does not build again", "err", err)
		return nil, refused
	}
	return sv.start(ctx, sys), refused
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
		if err = checkInstalled(ctx, slots, st, st.To); err != nil {
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
