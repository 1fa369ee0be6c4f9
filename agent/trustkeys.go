package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/internal/atomicfile"
	"github.com/tessera-print/tessera/protocol"
)

// setTrustKeys runs a set-trust-keys task: the keys are added to those
// the hub pushed before (or replace them), kept in DATA/trust-keys.pub,
// which the next stick is checked against (provision_trust.go). A key
// that does not parse fails the task and changes nothing.
func (t *taskRunner) setTrustKeys(_ context.Context, req protocol.TaskRequest) (any, error) {
	var p protocol.SetTrustKeysPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("payload: %v", err)
	}
	var incoming []firmware.PublicKey
	for i, k := range p.Keys {
		keys, err := firmware.ParsePublicKeys([]byte(k))
		if err != nil {
			return nil, fmt.Errorf("payload: keys[%d]: %v; nothing changed", i, err)
		}
		incoming = append(incoming, keys...)
	}
	path := filepath.Join(t.current.DataDir, pushedKeysFile)
	var kept []firmware.PublicKey
	if !p.Replace {
		var err error
		if kept, err = readPushedKeys(path); err != nil {
			return nil, err
		}
	}
	for _, k := range incoming {
		if !slices.ContainsFunc(kept, func(o firmware.PublicKey) bool { return o.ID() == k.ID() }) {
			kept = append(kept, k)
		}
	}
	if err := writePushedKeys(path, kept); err != nil {
		return nil, err
	}
	res := protocol.SetTrustKeysResult{Keys: []string{}}
	for _, k := range kept {
		res.Keys = append(res.Keys, k.ID())
	}
	t.log.Info("set-trust-keys: provisioning keys pushed by the hub", "task", req.ID, "keys", res.Keys, "replace", p.Replace)
	return res, nil
}

// readPushedKeys reads the keys the hub pushed; none when the file is
// absent.
func readPushedKeys(path string) ([]firmware.PublicKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pushed provisioning keys: %w", err)
	}
	keys, err := firmware.ParsePublicKeys(data)
	if err != nil {
		return nil, fmt.Errorf("the provisioning keys pushed before do not load: %w", err)
	}
	return keys, nil
}

// writePushedKeys keeps keys (none: the file removed).
func writePushedKeys(path string, keys []firmware.PublicKey) error {
	if len(keys) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pushed provisioning keys: %w", err)
		}
		return nil
	}
	var b bytes.Buffer
	for _, k := range keys {
		b.Write(firmware.MarshalPublicKey(k))
	}
	if err := atomicfile.Write(path, b.Bytes()); err != nil {
		return fmt.Errorf("pushed provisioning keys: %w", err)
	}
	return nil
}
