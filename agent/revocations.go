package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/internal/atomicfile"
)

// Revocation lists on the agent (the firmware issue; docs/updates.md): a
// list signed by a root arrives inside an update bundle (firmware.Verify
// hands it to Policy.KeepRevocations) or on a provisioning stick
// (tessera/revocations.json, supervise_stick.go), and the newest one the
// agent has seen is kept in DATA/revocations.json, as the signed file it
// came as. Every bundle verification applies it (updatePolicyFor), and a
// factory reset keeps it (keptByReset): a reset must not trust a revoked
// key again.

// revocationsFile is the kept list's name in the data directory.
const revocationsFile = "revocations.json"

// revocationStore is the list kept in a data directory: one per running
// agent (the supervisor makes it), shared by the stick and the update
// tasks, which may each bring a list: the serial comparison and the
// write must be one step.
type revocationStore struct {
	dir string
	mu  sync.Mutex
}

func revocationsPath(dataDir string) string { return filepath.Join(dataDir, revocationsFile) }

// loadRevocations is the list kept in dataDir, verified against roots
// (nil, nil: none kept). It is checked again on every load rather than
// trusted as written: the file is outside the binary, and a build with
// other roots must not take a list its roots did not sign.
func loadRevocations(dataDir string, roots []firmware.PublicKey) (*firmware.Revocations, error) {
	data, err := os.ReadFile(revocationsPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kept revocation list: %w", err)
	}
	r, err := firmware.ParseRevocations(data, roots, 0)
	if err != nil {
		return nil, fmt.Errorf("kept revocation list %s: %w", revocationsPath(dataDir), err)
	}
	return r, nil
}

// revocationStore.keep keeps the revocation list file data in dataDir when a
// root of roots signed it and its serial is above the kept list's, and
// returns the serial kept afterwards. A list with the kept serial changes
// nothing; an older one, or one that trusts a revoked key again, is
// refused with the reason rollback, one signed by a revoked root with
// revoked-key (a
// *firmware.Refusal, like any list that does not verify), which a caller
// logs or reports: it is no failure of anything else. Written atomically:
// a power cut leaves the old list or the new one.
//
// A kept list that no longer verifies (another build's roots, a damaged
// file) counts as none, so a good list replaces it.
func (s *revocationStore) keep(roots []firmware.PublicKey, data []byte) (serial uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept, _ := loadRevocations(s.dir, roots)
	if kept != nil {
		serial = kept.Serial
	}
	r, err := firmware.ParseRevocations(data, roots, 0)
	if err == nil {
		err = kept.Admit(r)
	}
	if err != nil {
		return serial, fmt.Errorf("revocation list: %w", err)
	}
	if kept != nil && r.Serial == kept.Serial {
		return serial, nil
	}
	if err := atomicfile.Write(revocationsPath(s.dir), data); err != nil {
		return serial, fmt.Errorf("keeping revocation list %d: %w", r.Serial, err)
	}
	return r.Serial, nil
}

// withRevocations makes p apply the list kept in dataDir and keep the
// list a bundle carries once the bundle verified. A kept list signed by
// a root this build does not trust has no authority here and is left
// out (logged); one that does not verify otherwise fails the policy:
// the agent cannot tell which keys it revoked, so it takes no bundle
// until a good list replaces it (a stick) or the file is removed.
func withRevocations(p *firmware.Policy, s *revocationStore, log *slog.Logger) error {
	kept, err := loadRevocations(s.dir, p.Roots)
	switch {
	case firmware.ReasonOf(err) == firmware.ReasonUnknownKey:
		log.Warn("the kept revocation list is not signed by a root this build trusts; not applied", "err", err)
	case err != nil:
		return fmt.Errorf("%w; no bundle is taken until a good list replaces it", err)
	}
	p.Revocations = kept
	roots := p.Roots
	p.KeepRevocations = func(file []byte, r *firmware.Revocations) error {
		serial, err := s.keep(roots, file)
		if firmware.ReasonOf(err) == firmware.ReasonRollback {
			log.Warn("a bundle carried an older revocation list than the one kept; not kept", "carried", r.Serial, "kept", serial)
			return nil
		}
		if err != nil {
			return err
		}
		log.Info("revocation list kept", "serial", serial, "revoked", len(r.Revoked))
		return nil
	}
	return nil
}
