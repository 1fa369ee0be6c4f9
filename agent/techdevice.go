package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware/media"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/panel"
)

// The technician's actions on the device itself (the firmware issue,
// points 5 and 6; panel.TechDevice): the diagnostics bundle written to a
// USB stick, and the factory reset from the menu.

const (
	// stickTimeout bounds making the bundle for a stick: the panel's
	// answer must come within its write timeout (30 s), so the printer's
	// walk is cut short (the manifest says so) rather than the answer.
	stickTimeout = 20 * time.Second
	// stampLayout is the bundle's time in its file name: no colons, which
	// a vfat stick refuses.
	stampLayout = "20060102T150405Z"
)

// techDevice is what the technician's device actions need.
type techDevice struct {
	// sv takes the reset over; nil when the agent is not run by its
	// supervisor (agent.Run), and the reset is then refused.
	sv     *supervisor
	store  *offline.Store
	cfg    config.Config
	bundle func(ctx context.Context, w io.Writer) error
	now    func() time.Time
	log    *slog.Logger

	// mu: one stick write or reset at a time (two taps, two screens).
	mu        sync.Mutex
	resetting bool
}

// techDevice is the running system's.
func (r *running) techDevice() *techDevice {
	return &techDevice{sv: r.sv, store: r.store, cfg: r.cfg, bundle: r.diagnostics, now: r.floor.Now,
		log: r.log.With("component", "technician")}
}

// errNoDevice is a device action asked of a technician built without it.
var errNoDevice = errors.New("technician device actions: not wired")

func (t *technician) device() (*techDevice, error) {
	if t.src == nil || t.src.dev == nil {
		return nil, errNoDevice
	}
	return t.src.dev, nil
}

// DiagnosticsToStick writes the diagnostics bundle to each stick.
func (t *technician) DiagnosticsToStick(ctx context.Context) ([]panel.StickFile, error) {
	d, err := t.device()
	if err != nil {
		return nil, err
	}
	return d.toSticks(ctx)
}

// toSticks writes the bundle as tessera/diagnostics-AGENTID-STAMP.tar.gz
// to each stick (media.Sticks): made once in the data directory, then
// copied to each stick under a temporary name, synced, and renamed, so a
// stick pulled out holds the whole bundle or none of it.
func (d *techDevice) toSticks(ctx context.Context) ([]panel.StickFile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sticks := media.Sticks(d.cfg.MediaRoots)
	if len(sticks) == 0 {
		return nil, panel.ErrNoStick
	}
	id, err := d.store.AgentID(ctx)
	if err != nil {
		return nil, fmt.Errorf("diagnostics to the stick: %w", err)
	}
	name := diagnosticsName(id, d.now())
	src, err := d.makeBundle(ctx)
	if err != nil {
		return nil, err
	}
	defer os.Remove(src.Name())
	defer src.Close()
	var out []panel.StickFile
	for _, stick := range sticks {
		n, err := copyToStick(src, filepath.Join(stick, media.Dir), name)
		if err != nil {
			return out, fmt.Errorf("diagnostics to the stick %s: %w", stick, err)
		}
		d.log.Info("diagnostics written to a stick", "stick", stick, "file", name, "bytes", n)
		out = append(out, panel.StickFile{Stick: filepath.Base(stick), Name: name, Bytes: n})
	}
	return out, nil
}

// makeBundle writes the bundle to a temporary file in the data directory
// (the agent's own disk, not the stick: the bundle is made once, however
// many sticks there are).
func (d *techDevice) makeBundle(ctx context.Context) (*os.File, error) {
	f, err := os.CreateTemp(d.cfg.DataDir, "stick-diagnostics-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("diagnostics to the stick: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, stickTimeout)
	defer cancel()
	if err := d.bundle(bctx, f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("diagnostics to the stick: %w", err)
	}
	return f, nil
}

// diagnosticsName is the bundle's file name on a stick: the agent id
// (restricted to what vfat takes) and the time in UTC.
func diagnosticsName(agentID string, at time.Time) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, agentID)
	return "diagnostics-" + safe + "-" + at.UTC().Format(stampLayout) + ".tar.gz"
}

// copyToStick copies src whole into dir/name: to a temporary name first,
// synced, then renamed and the directory synced. It returns the size.
func copyToStick(src *os.File, dir, name string) (int64, error) {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	// A new file of its own (O_EXCL): a name planted on the stick, a
	// symlink say, is never followed.
	f, err := os.CreateTemp(dir, "."+name+"-*.tmp")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	n, err := io.Copy(f, src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	// The rename reaches the stick with its directory; vfat may refuse a
	// directory's fsync, which leaves the rename to the unmount.
	if df, err := os.Open(dir); err == nil {
		_ = df.Sync()
		df.Close()
	}
	return n, nil
}

// ResetInfo says what a factory reset would lose now.
func (t *technician) ResetInfo(ctx context.Context) (panel.ResetInfo, error) {
	d, err := t.device()
	if err != nil {
		return panel.ResetInfo{}, err
	}
	n, err := d.store.PendingOf(ctx, offline.KindAccounting)
	if err != nil {
		return panel.ResetInfo{}, fmt.Errorf("reset info: %w", err)
	}
	return panel.ResetInfo{UnsentRecords: n}, nil
}

// FactoryReset hands the factory reset over to the supervisor. Unsent
// records refuse it unless force; the supervisor checks them again once
// the system has stopped (a release may have ended meanwhile).
func (t *technician) FactoryReset(ctx context.Context, force bool) error {
	d, err := t.device()
	if err != nil {
		return err
	}
	return d.reset(ctx, force)
}

func (d *techDevice) reset(ctx context.Context, force bool) error {
	if d.sv == nil {
		return errors.New("factory reset: needs the agent's supervisor (agent.Run)")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resetting {
		return nil // asked twice: once is under way
	}
	n, err := d.store.PendingOf(ctx, offline.KindAccounting)
	if err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	if n > 0 && !force {
		return &panel.UnsentRecordsError{Records: n}
	}
	d.log.Warn("factory reset asked at the technician menu", "force", force, "unsent_records", n)
	d.resetting = true
	// Handed over now: the supervisor stops the system, whose panel
	// finishes this answer before it closes.
	if err := d.sv.request(ctx, handoverRequest{h: handover{Type: handoverFactoryReset}, force: force}); err != nil {
		d.resetting = false
		return fmt.Errorf("factory reset: %w", err)
	}
	return nil
}
