package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// The set-config task (the cloud-link issue; docs/protocol.md "Tasks"): a
// partial config in the config file's keys, validated first (every error
// at once), then applied by building a new system and swapping it in
// (supervise.go). The keys applied persist in the override file.

// errHandedOver is a task's "result" when the supervisor ends it.
var errHandedOver = errors.New("task handed over to the supervisor")

// setConfigResult is a set-config task's result. Restarted is "agent":
// the whole system is rebuilt and swapped, whatever the keys.
type setConfigResult struct {
	Changed   []string `json:"changed"`
	Restarted []string `json:"restarted"`
}

// setConfigPlan is a valid set-config: the new config, its system built,
// the override files before and after, the keys whose value changes.
type setConfigPlan struct {
	cfg      config.Config
	sys      *System
	previous config.Override
	override config.Override
	changed  []string
}

// setConfig validates the task's partial config against the running one
// and, if it changes anything, writes the new override and hands the swap
// over to the supervisor.
func (t *taskRunner) setConfig(ctx context.Context, req protocol.TaskRequest) (any, error) {
	if t.sv == nil {
		return nil, errors.New("not-supported: set-config needs the agent's supervisor (agent.Run)")
	}
	plan, err := t.sv.planSetConfig(req.Payload, t.current)
	if err != nil {
		return nil, err
	}
	if len(plan.changed) == 0 {
		return setConfigResult{Changed: []string{}, Restarted: []string{}}, nil
	}
	if err := t.waitQuiet(ctx); err != nil {
		return nil, err
	}
	result, err := json.Marshal(setConfigResult{Changed: plan.changed, Restarted: []string{"agent"}})
	if err != nil {
		return nil, err
	}
	hpath := handoverPath(t.current.DataDir)
	h := handover{ID: req.ID, Type: req.Type, State: handoverSwapping, Result: result, Previous: plan.previous}
	// The handover first: a process that dies after the override is
	// written restores the previous one at its start.
	if err := writeHandover(hpath, h); err != nil {
		return nil, err
	}
	if err := config.WriteOverride(config.OverridePath(t.current.DataDir), plan.override); err != nil {
		_ = removeFile(hpath)
		return nil, err
	}
	t.log.Info("set-config: swapping in the new configuration", "task", req.ID, "changed", plan.changed)
	if err := t.sv.request(ctx, handoverRequest{h: h, sys: plan.sys, cfg: plan.cfg}); err != nil {
		return nil, err // stopping: the next start restores the previous override
	}
	return nil, errHandedOver
}

// planSetConfig checks a set-config payload against the running config
// cur: every refused or unknown key, every value that does not decode,
// every problem of the merged config and of the files it names, at
// once; and a key the command line sets, which the override could not
// change. Valid, it builds the new system (which opens nothing).
func (sv *supervisor) planSetConfig(payload json.RawMessage, cur config.Config) (*setConfigPlan, error) {
	var patch config.Override
	if err := json.Unmarshal(payload, &patch); err != nil || patch == nil {
		return nil, errors.New("payload: want an object of config file keys")
	}
	var errs []error
	good := config.Override{}
	for _, k := range slices.Sorted(maps.Keys(patch)) {
		v := patch[k]
		one := config.Override{k: v}
		probe := config.Default()
		err := config.CheckRemote(one)
		if err == nil {
			err = probe.ApplyOverride(one)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		good[k] = v
	}
	previous, err := config.ReadOverride(config.OverridePath(cur.DataDir))
	if err != nil {
		return nil, err
	}
	override := previous.Merge(good)
	cfg, err := sv.layers.With(override)
	if err != nil {
		errs = append(errs, err)
	} else if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, flagsWin(cfg, good)...)
	}
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	plan := &setConfigPlan{cfg: cfg, previous: previous, override: override}
	for _, k := range config.Keys() {
		if _, ok := good[k]; ok && cfg.Value(k) != cur.Value(k) {
			plan.changed = append(plan.changed, k)
		}
	}
	if len(plan.changed) == 0 {
		return plan, nil
	}
	if plan.sys, err = Build(cfg, sv.opts); err != nil {
		return nil, invalid([]error{err})
	}
	return plan, nil
}

// flagsWin reports the keys of patch whose value in cfg is not the one
// the patch gives: a command-line flag sets them, and wins.
func flagsWin(cfg config.Config, patch config.Override) []error {
	var errs []error
	for _, k := range config.Keys() {
		v, ok := patch[k]
		if !ok {
			continue
		}
		want := config.Default()
		if err := want.ApplyOverride(config.Override{k: v}); err == nil && cfg.Value(k) != want.Value(k) {
			errs = append(errs, fmt.Errorf("key %s is set on the agent's command line, which wins over set-config", k))
		}
	}
	return errs
}

// invalid is the task's error for an invalid set-config: every problem,
// on one line.
func invalid(errs []error) error {
	var lines []string
	for _, err := range errs {
		for l := range strings.SplitSeq(err.Error(), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return fmt.Errorf("invalid configuration, nothing changed: %s", strings.Join(lines, "; "))
}

// Bounds of the wait for a free panel.
const (
	// quietWait bounds the wait for the person at the panel to finish
	// before a swap or a restart (which would end their session): within
	// the task's 2 minutes, with room to spare.
	quietWait = 90 * time.Second
	// quietPoll is how often the panel is looked at meanwhile.
	quietPoll = 500 * time.Millisecond
)

// errBusy fails a set-config or restart while a person stays at the
// panel: nothing changed, the hub may send it again.
var errBusy = errors.New("busy: a person stayed at the panel (session or PIN prompt); nothing changed, try again later")

// waitQuiet waits, within quietWait, until no one is at the panel: no
// session and no PIN prompt. A swap or restart ends the session, so it
// waits for the person to finish (a release in progress is part of it);
// a registration offer or the device's lock is no one's work in progress.
func (t *taskRunner) waitQuiet(ctx context.Context) error {
	if t.sess == nil {
		return nil
	}
	deadline, expired := t.sv.clock.NewTimer(quietWait)
	defer deadline.Stop()
	for atPanel(t.sess.View()) {
		poll, tick := t.sv.clock.NewTimer(quietPoll)
		select {
		case <-tick:
		case <-expired:
			poll.Stop()
			return errBusy
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// atPanel reports whether a person is at the panel.
func atPanel(v session.View) bool {
	return v.State == session.StateActive || v.State == session.StatePINRequired
}
