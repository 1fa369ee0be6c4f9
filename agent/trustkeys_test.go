package agent

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/protocol"
)

// TestSetTrustKeys: a stick signed by a key the hub pushed is trusted
// once the set-trust-keys task ran, and no more once the keys are
// replaced by none; a key that does not parse changes nothing.
func TestSetTrustKeys(t *testing.T) {
	k := newStickKit(t)
	pushed, _ := firmware.GenerateKey("hub-pushed")
	second, _ := firmware.GenerateKey("second")
	stick := k.stick(t, firmware.Provision{ID: "p1", Config: map[string]json.RawMessage{"language": json.RawMessage(`"fr"`)}}, pushed, nil, nil)
	runner := newTaskRunner(nil, nil, slog.New(slog.DiscardHandler), func() {})
	runner.current = k.cfg
	task := func(p protocol.SetTrustKeysPayload) ([]string, error) {
		payload, _ := json.Marshal(p)
		res, err := runner.setTrustKeys(t.Context(), protocol.TaskRequest{ID: "k", Type: protocol.TaskSetTrustKeys, Payload: payload})
		if err != nil {
			return nil, err
		}
		return res.(protocol.SetTrustKeysResult).Keys, nil
	}
	trusted := func() bool {
		_, refused := planStick(stick, k.cfg, nil, slog.New(slog.DiscardHandler))
		return len(refused) == 0
	}
	pem := func(k *firmware.PrivateKey) string { return string(firmware.MarshalPublicKey(k.Public())) }

	if trusted() {
		t.Fatal("a stick signed by a key no one trusts was planned")
	}
	steps := []struct {
		name    string
		payload protocol.SetTrustKeysPayload
		keys    []string // nil: the task fails
		trusted bool
	}{
		{"push", protocol.SetTrustKeysPayload{Keys: []string{pem(pushed)}}, []string{pushed.Public().ID()}, true},
		{"add, once each", protocol.SetTrustKeysPayload{Keys: []string{pem(second), pem(pushed)}}, []string{pushed.Public().ID(), second.Public().ID()}, true},
		{"a key that does not parse", protocol.SetTrustKeysPayload{Keys: []string{strings.Replace(pem(second), "\n\n", "\n\n!!", 1)}}, nil, true},
		{"replace", protocol.SetTrustKeysPayload{Keys: []string{pem(second)}, Replace: true}, []string{second.Public().ID()}, false},
		{"replace with none", protocol.SetTrustKeysPayload{Replace: true}, []string{}, false},
	}
	for _, s := range steps {
		keys, err := task(s.payload)
		if (err != nil) != (s.keys == nil) || (s.keys != nil && !slices.Equal(keys, s.keys)) {
			t.Fatalf("%s: keys %v, err %v; want %v", s.name, keys, err, s.keys)
		}
		if trusted() != s.trusted {
			t.Fatalf("%s: stick trusted %v, want %v", s.name, !s.trusted, s.trusted)
		}
	}
	if _, err := os.Stat(filepath.Join(k.cfg.DataDir, pushedKeysFile)); !os.IsNotExist(err) {
		t.Fatalf("replaced by none, the pushed keys file is still there: %v", err)
	}
}
