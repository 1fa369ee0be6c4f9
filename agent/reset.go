package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/offline"
)

// Factory reset (the firmware issue): the data directory is emptied of
// everything the agent learnt and was given (its identity and keys, the
// credential cache, the local queue's jobs, the ledger, the outbox, the
// override file, logs), leaving an agent as new. What is kept is what
// the agent is, not what it knew: its installed versions (the update
// slots and their state) and the directory itself; and the newest
// revocation list, since an agent as new must not trust a revoked
// signing key again (the build's roots would take its bundles).

// keptByReset reports whether a factory reset keeps the data directory's
// entry name: the installed versions, the kept revocation list and the
// lock the reset holds.
func keptByReset(name string) bool {
	return name == "slots" || name == "update-state.json" || name == revocationsFile || name == lockFileName
}

// ErrUnsentRecords: a factory reset would lose accounting records the
// hub has not acknowledged yet.
var ErrUnsentRecords = errors.New("accounting records not yet sent to the hub")

// ResetOptions say what a factory reset may do.
type ResetOptions struct {
	// Force loses unsent accounting records rather than refusing (the
	// count is logged).
	Force bool
	// LogFile is the agent's log file (config log_file; "": none),
	// removed with its rotated copy.
	LogFile string
	// Files are more files of the agent's outside its data directory
	// (a device_token_file elsewhere), removed too.
	Files  []string
	Logger *slog.Logger
}

// FactoryReset empties dataDir as above. It refuses while an agent runs
// on the directory, and while the ledger holds records the hub has not
// acknowledged unless opts.Force.
func FactoryReset(ctx context.Context, dataDir string, opts ResetOptions) error {
	release, err := lockDataDir(dataDir)
	if err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	defer release()
	_, err = wipeDataDir(ctx, dataDir, opts)
	return err
}

// wipeDataDir is the factory reset once the caller holds the data
// directory's lock: tessera reset took it, a running agent holds it since
// its start (supervise_reset.go). The store must be closed. It returns
// how many unsent accounting records a forced reset lost.
func wipeDataDir(ctx context.Context, dataDir string, opts ResetOptions) (lost int, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	unsent, err := unsentRecords(ctx, dataDir)
	if err != nil {
		if !opts.Force {
			return 0, fmt.Errorf("factory reset: %w (a store that cannot be read can only be reset with force)", err)
		}
		log.Warn("factory reset forced: the store could not be read; whatever it held is lost", "err", err)
	}
	if unsent > 0 {
		if !opts.Force {
			return 0, fmt.Errorf("factory reset refused: %d %w; connect the agent to its hub until they are, or force the reset and lose them", unsent, ErrUnsentRecords)
		}
		log.Warn("factory reset forced: unsent accounting records are lost", "records", unsent)
	}
	removed, err := removeDataEntries(dataDir)
	if err != nil {
		return 0, err
	}
	files := opts.Files
	if opts.LogFile != "" {
		files = append(files, opts.LogFile, opts.LogFile+".1")
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("factory reset: %w", err)
		}
	}
	log.Info("factory reset: the agent is as new", "data_dir", dataDir, "entries_removed", removed)
	return unsent, nil
}

// removeDataEntries removes every entry of dataDir the reset does not
// keep and returns how many it removed.
func removeDataEntries(dataDir string) (int, error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return 0, fmt.Errorf("factory reset: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if keptByReset(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			return removed, fmt.Errorf("factory reset: %w", err)
		}
		removed++
	}
	return removed, nil
}

// ResetOptionsFor are the reset options of the agent cfg configures: its
// log file, and its device token file when it lies outside the data
// directory (the data directory's own entries go with it).
func ResetOptionsFor(cfg config.Config) ResetOptions {
	opts := ResetOptions{LogFile: cfg.LogFile}
	if cfg.DeviceTokenFile != "" && !strings.HasPrefix(filepath.Clean(cfg.DeviceTokenFile), filepath.Clean(cfg.DataDir)+string(filepath.Separator)) {
		opts.Files = append(opts.Files, cfg.DeviceTokenFile)
	}
	return opts
}

// unsentRecords counts the accounting records in the outbox of the store
// in dataDir (0 when there is no store).
func unsentRecords(ctx context.Context, dataDir string) (int, error) {
	path := filepath.Join(dataDir, "tessera.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	st, err := offline.Open(ctx, path, offline.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.PendingOf(ctx, offline.KindAccounting)
}
