package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/version"
)

// The update-agent task (the firmware issue; docs/updates.md): the bundle
// is downloaded (resumed when cut), checked against the task's size and
// SHA-256, verified and installed to the inactive slot; then, with the
// agent quiet, the slot is switched and the binary re-executed from the
// slot link. The new process is on trial until the supervisor's health
// check passes (commit) or fails (rollback to the old slot, re-executed);
// firmware.Updater persists each step, so a kill anywhere resumes or
// rolls back. The process that runs at the end reports the task.

// handoverUpdating: an update-agent task switched slots and re-executes.
const handoverUpdating = "updating"

// updateTaskTimeout bounds an update-agent task's run: the download of a
// 30 MB bundle over a slow uplink, and the wait for the agent to be quiet.
const updateTaskTimeout = 30 * time.Minute

// downloadTries is how often a download failure that may pass is tried
// within the task, backing off between tries.
const downloadTries = 4

// updateResult is an update-agent task's result.
type updateResult struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// slotsRoot is where the update slots are in a data directory.
func slotsRoot(dataDir string) string { return filepath.Join(dataDir, "slots") }

// updater is the data directory's updater for a binary of version
// running; ok is false when the agent does not run from slots (a
// development build, a plain binary).
func updater(dataDir, running string, onStep func(string)) (*firmware.Updater, firmware.DirSlots, bool) {
	slots := firmware.DirSlots{Root: slotsRoot(dataDir)}
	if _, err := slots.Active(); err != nil {
		return nil, slots, false
	}
	return &firmware.Updater{Slots: slots, StateFile: filepath.Join(dataDir, "update-state.json"), Running: running,
		OnStep: onStep}, slots, true
}

// updateAgent runs an update-agent task up to the switch, then hands it
// over to the supervisor, which re-executes the new binary.
func (t *taskRunner) updateAgent(ctx context.Context, req protocol.TaskRequest) (any, error) {
	var p protocol.UpdateAgentPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("payload: %v", err)
	}
	if t.sv == nil {
		return nil, errors.New("not-supported: an update needs the agent's supervisor (agent.Run)")
	}
	u, slots, ok := updater(t.current.DataDir, t.sv.opts.Version, t.sv.opts.UpdateStepHook)
	if !ok {
		return nil, errors.New("not-supported: this agent does not run from update slots (DATA/slots); install it from the package")
	}
	bundle, err := t.downloadBundle(ctx, req.ID, p)
	if err != nil {
		return nil, err
	}
	defer os.Remove(bundle)
	t.reportPhase(ctx, req.ID, "verifying")
	policy, err := t.updatePolicy(p.Downgrade)
	if err != nil {
		return nil, err
	}
	st, err := u.Install(bundle, policy, req.ID)
	if err != nil {
		return nil, fmt.Errorf("update refused: %w", err)
	}
	if err := checkInstalled(ctx, slots, st, p.Version); err != nil {
		if aerr := u.Abandon(); aerr != nil {
			t.log.Error("update: the refused install not dropped", "err", aerr)
		}
		return nil, fmt.Errorf("update refused: %w", err)
	}
	if err := t.waitIdle(ctx, req.ID); err != nil {
		if errors.Is(err, errStayedBusy) {
			err = fmt.Errorf("%w; the new version is installed, not switched to", err)
		}
		return nil, err
	}
	result, _ := json.Marshal(updateResult{From: st.From, To: st.To})
	h := handover{ID: req.ID, Type: req.Type, State: handoverUpdating, Result: result}
	if err := writeHandover(handoverPath(t.current.DataDir), h); err != nil {
		return nil, err
	}
	if err := u.Switch(); err != nil {
		_ = removeFile(handoverPath(t.current.DataDir))
		return nil, err
	}
	t.log.Info("update: switched to the new version; re-executing", "task", req.ID, "from", st.From, "to", st.To)
	// Switched: the task's own deadline no longer decides; only the
	// agent stopping does (its next start is the new version on trial).
	if err := t.sv.request(context.WithoutCancel(ctx), handoverRequest{h: h}); err != nil {
		return nil, err // stopping: the next start is the new version, on trial
	}
	return nil, errHandedOver
}

// downloadBundle fetches the task's bundle into the data directory and
// checks its size and SHA-256 against the task's.
func (t *taskRunner) downloadBundle(ctx context.Context, id string, p protocol.UpdateAgentPayload) (string, error) {
	dir := filepath.Join(t.current.DataDir, "update")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "bundle.tar")
	if err := t.download(ctx, id, fetch{URL: p.URL, SHA256: p.SHA256, Size: p.Size}, path); err != nil {
		return "", err
	}
	return path, nil
}

// fetch is a file an update task names: where it is, and the size and
// SHA-256 it must have.
type fetch struct {
	URL, SHA256 string
	Size        int64
}

// download fetches f to path (resumed from path's partial file when cut,
// retried with a backoff while the failure may pass) and checks its size
// and SHA-256; a file that is not f's is removed. The client is the task
// client for f's URL (the hub link's proxy and CA).
func (t *taskRunner) download(ctx context.Context, id string, f fetch, path string) error {
	client := http.DefaultClient
	if u, err := url.Parse(f.URL); err == nil && t.client != nil {
		client = t.client(u)
	}
	t.reportPhase(ctx, id, "downloading")
	wait := 2 * time.Second
	var err error
	for try := 1; try <= downloadTries; try++ {
		if err = firmware.Download(ctx, client, f.URL, path, f.Size); err == nil {
			break
		}
		var de *firmware.DownloadError
		if !errors.As(err, &de) || !de.Temporary || try == downloadTries {
			return err
		}
		t.log.Warn("download failed; trying again", "task", id, "try", try, "in", wait, "err", err)
		timer, expired := t.floor.NewTimer(wait)
		select {
		case <-expired:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		wait *= 2
	}
	if err := checkDownload(path, f); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// checkDownload compares the downloaded file with the task's size and
// SHA-256.
func checkDownload(path string, want fetch) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != want.Size || sum != want.SHA256 {
		return fmt.Errorf("update refused: the download is %d bytes with SHA-256 %s; the task says %d and %s (%s)",
			n, sum, want.Size, want.SHA256, firmware.ReasonPayload)
	}
	return nil
}

// updatePolicy is what a bundle must satisfy on this agent.
func (t *taskRunner) updatePolicy(downgrade bool) (firmware.Policy, error) {
	earliest, _ := t.floor.Bound()
	return updatePolicyFor(t.sv.opts, earliest, downgrade)
}

// updatePolicyFor is what a bundle must satisfy on an agent run with
// opts, when the true time is earliest or later (zero: unknown, expiry
// not judged). In a running agent (opts.revocations set) the policy applies
// the revocation list kept in the data directory and keeps the one a
// verified bundle carries (revocations.go).
func updatePolicyFor(opts Options, earliest time.Time, downgrade bool) (firmware.Policy, error) {
	roots := opts.UpdateRoots
	if roots == nil {
		var err error
		if roots, err = firmware.Roots(""); err != nil {
			return firmware.Policy{}, err
		}
	}
	running, err := version.Parse(opts.Version)
	if err != nil {
		running = version.Dev() // an unstamped build: below every release
	}
	p := firmware.Policy{Roots: roots, OS: runtime.GOOS, Arch: runtime.GOARCH, Running: running,
		Downgrade: downgrade, Earliest: earliest}
	if opts.revocations != nil {
		log := opts.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		if err := withRevocations(&p, opts.revocations, log.With("component", "update")); err != nil {
			return p, err
		}
	}
	return p, nil
}

// updateQuietWait bounds the wait for the agent to be idle before an
// update switches: a busy printer finishes its job in minutes.
const updateQuietWait = 20 * time.Minute

// errStayedBusy: the printer or the panel stayed in use for
// updateQuietWait; the caller says what that left undone.
var errStayedBusy = errors.New("busy: the printer or the panel stayed in use")

// waitIdle waits, within updateQuietWait, until no one is at the panel
// (no session, so no release in progress; no PIN prompt) and the printer
// is not printing, as SNMP says (a printer that does not answer is taken
// as idle: it may simply be off). While it waits the task is in progress
// with the phase "waiting". It fails with errStayedBusy.
func (t *taskRunner) waitIdle(ctx context.Context, id string) error {
	clk := t.timers()
	deadline, expired := clk.NewTimer(updateQuietWait)
	defer deadline.Stop()
	for waited := false; t.busy(ctx); waited = true {
		if !waited {
			t.reportPhase(ctx, id, "waiting")
		}
		poll, tick := clk.NewTimer(quietPoll)
		select {
		case <-tick:
		case <-expired:
			poll.Stop()
			return errStayedBusy
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// busy reports whether a person is at the panel or the printer prints.
func (t *taskRunner) busy(ctx context.Context) bool {
	if t.sess != nil && atPanel(t.sess.View()) {
		return true
	}
	if t.snmp == nil {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := t.snmp.Read(rctx)
	return err == nil && r.Status.State == snmp.StatePrinting
}

// reportPhase tells the hub the phase an update is in.
func (t *taskRunner) reportPhase(ctx context.Context, id, phase string) {
	if t.progress != nil && id != "" { // "": a stick's install, no task
		t.progress(ctx, id, phase, 0)
	}
}

// checkInstalled runs the installed binary (`tessera version`) before
// the switch: one that cannot run here (another architecture, a broken
// file) or says it is another version than its manifest and the task is
// refused while the running version is still active. A version mismatch
// would otherwise leave the new binary unable to know itself on trial.
func checkInstalled(ctx context.Context, slots firmware.DirSlots, st firmware.State, want string) error {
	if w, err := version.Parse(want); err != nil || w.String() != st.To {
		return fmt.Errorf("the bundle is version %s, the task says %s", st.To, want)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	bin := filepath.Join(slots.Dir(st.ToSlot), "tessera")
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return fmt.Errorf("the new binary does not run here: %w (%s)", err, firmware.ReasonPlatform)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "tessera" {
		return fmt.Errorf("the new binary is not a tessera agent (%s)", firmware.ReasonMalformed)
	}
	if v, err := version.Parse(f[1]); err != nil || v.String() != st.To {
		return fmt.Errorf("the new binary says it is %s, its manifest %s (%s)", f[1], st.To, firmware.ReasonMalformed)
	}
	return nil
}
