package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/protocol"
)

// revocationKeys are a root the agent trusts, two signing keys it
// certified (the old one to be revoked), and a root it does not trust.
type revocationKeys struct {
	root, stranger, oldKey, newKey *firmware.PrivateKey
	roots                          []firmware.PublicKey
}

func newRevocationKeys(t *testing.T) revocationKeys {
	t.Helper()
	var k revocationKeys
	for _, p := range []struct {
		into **firmware.PrivateKey
		name string
	}{{&k.root, "test-root"}, {&k.stranger, "other-root"}, {&k.oldKey, "release-old"}, {&k.newKey, "release-new"}} {
		key, err := firmware.GenerateKey(p.name)
		if err != nil {
			t.Fatal(err)
		}
		*p.into = key
	}
	k.roots = []firmware.PublicKey{k.root.Public()}
	return k
}

// list is a revocation list file of serial, signed by the trusted root,
// revoking keys.
func (k revocationKeys) list(t *testing.T, serial uint64, keys ...*firmware.PrivateKey) []byte {
	t.Helper()
	return k.listBy(t, k.root, serial, keys...)
}

func (k revocationKeys) listBy(t *testing.T, root *firmware.PrivateKey, serial uint64, keys ...*firmware.PrivateKey) []byte {
	t.Helper()
	r := firmware.Revocations{Serial: serial, Revoked: []string{}}
	for _, key := range keys {
		r.Revoked = append(r.Revoked, key.Public().ID())
	}
	data, err := firmware.SignRevocations(root, r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// bundle is a bundle of version for this platform signed by signing
// (certified by the trusted root), carrying list (nil: none); its binary
// answers `version` as that version.
func (k revocationKeys) bundle(t *testing.T, signing *firmware.PrivateKey, version string, list []byte) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tessera")
	os.WriteFile(bin, fakeBinary(version), 0o755)
	m := firmware.Manifest{Product: firmware.Product, Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Expires: time.Now().Add(24 * time.Hour)}
	var b bytes.Buffer
	if err := firmware.WriteBundleCarrying(&b, signing, firmware.SignKey(k.root, signing.Public()), m, map[string]string{"tessera": bin}, list); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// keptSerial is the serial of the list kept in dataDir (0: none).
func keptSerial(t *testing.T, dataDir string, roots []firmware.PublicKey) uint64 {
	t.Helper()
	r, err := loadRevocations(dataDir, roots)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		return 0
	}
	return r.Serial
}

// TestKeepRevocations: the stick's path (revocationStore.keep) keeps a list a
// trusted root signed when its serial is above the kept one; an equal one
// changes nothing, an older one is refused rollback, one by another root
// unknown-key, and the kept list stays.
func TestKeepRevocations(t *testing.T) {
	k := newRevocationKeys(t)
	dir := t.TempDir()
	store := &revocationStore{dir: dir}
	steps := []struct {
		name   string
		list   []byte
		reason string
		serial uint64 // returned and kept after the step
	}{
		{"the first list", k.list(t, 2, k.oldKey), "", 2},
		{"the same serial again", k.list(t, 2, k.oldKey), "", 2},
		{"a newer list trusting the key again", k.list(t, 4), firmware.ReasonRollback, 2},
		{"an older list", k.list(t, 1), firmware.ReasonRollback, 2},
		{"by a root not trusted", k.listBy(t, k.stranger, 9), firmware.ReasonUnknownKey, 2},
		{"not a list", []byte(`{"serial": 7}`), firmware.ReasonMalformed, 2},
		{"a newer list", k.list(t, 3, k.oldKey, k.newKey), "", 3},
	}
	for _, s := range steps {
		serial, err := store.keep(k.roots, s.list)
		if firmware.ReasonOf(err) != s.reason || (s.reason == "") != (err == nil) {
			t.Errorf("%s: %v, want reason %q", s.name, err, s.reason)
		}
		if kept := keptSerial(t, dir, k.roots); serial != s.serial || kept != s.serial {
			t.Errorf("%s: returned serial %d, kept %d, want %d", s.name, serial, kept, s.serial)
		}
	}
	if st, err := os.Stat(revocationsPath(dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the kept list: %v %v", st, err)
	}
	// A damaged kept list counts as none: a good list replaces it.
	os.WriteFile(revocationsPath(dir), []byte("damaged"), 0o600)
	if serial, err := store.keep(k.roots, k.list(t, 1)); err != nil || serial != 1 {
		t.Errorf("over a damaged list: %d %v", serial, err)
	}
}

// TestRevocationsOnAgent: each bundle verification on the agent
// (updatePolicyFor, then the updater's Install, as the update-agent task
// and a stick's bundle do) applies the kept list and keeps the newer list
// a verified bundle carried; a factory reset keeps it. The steps run in
// order on one data directory.
func TestRevocationsOnAgent(t *testing.T) {
	k := newRevocationKeys(t)
	cfg := baseConfig(t)
	old := filepath.Join(t.TempDir(), "old")
	os.WriteFile(old, fakeBinary("1.0.0"), 0o755)
	slots := firmware.DirSlots{Root: slotsRoot(cfg.DataDir)}
	if err := slots.Init(old); err != nil {
		t.Fatal(err)
	}
	u := &firmware.Updater{Slots: slots, StateFile: filepath.Join(cfg.DataDir, "update-state.json"), Running: "1.0.0"}
	steps := []struct {
		name   string
		bundle []byte // nil: a factory reset
		reason string
		serial uint64 // kept after the step
	}{
		{"signed by the old key, nothing revoked yet", k.bundle(t, k.oldKey, "1.1.0", nil), "", 0},
		{"carrying a list that revokes the old key", k.bundle(t, k.newKey, "1.1.0", k.list(t, 2, k.oldKey)), "", 2},
		{"signed by the revoked key", k.bundle(t, k.oldKey, "1.2.0", nil), firmware.ReasonRevoked, 2},
		{"signed by the revoked key, carrying an older list", k.bundle(t, k.oldKey, "1.2.0", k.list(t, 1)), firmware.ReasonRevoked, 2},
		{"carrying an older list", k.bundle(t, k.newKey, "1.2.0", k.list(t, 1)), "", 2},
		{"carrying a list that revokes its own key", k.bundle(t, k.newKey, "1.2.0", k.list(t, 3, k.oldKey, k.newKey)), firmware.ReasonRevoked, 2},
		{"carrying a list of a root not trusted", k.bundle(t, k.newKey, "1.2.0", k.listBy(t, k.stranger, 5)), firmware.ReasonUnknownKey, 2},
		{"factory reset", nil, "", 2},
		{"signed by the revoked key, after the reset", k.bundle(t, k.oldKey, "1.2.0", nil), firmware.ReasonRevoked, 2},
	}
	for _, s := range steps {
		if s.bundle == nil {
			if err := FactoryReset(context.Background(), cfg.DataDir, ResetOptions{Force: true}); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		} else {
			path := filepath.Join(t.TempDir(), "b.tar")
			os.WriteFile(path, s.bundle, 0o600)
			p, err := updatePolicyFor(Options{Version: "1.0.0", UpdateRoots: k.roots, revocations: &revocationStore{dir: cfg.DataDir}}, time.Now(), false)
			if err != nil {
				t.Fatalf("%s: policy: %v", s.name, err)
			}
			_, err = u.Install(path, p, "t")
			if firmware.ReasonOf(err) != s.reason || (s.reason == "") != (err == nil) {
				t.Errorf("%s: %v, want reason %q", s.name, err, s.reason)
			}
		}
		if got := keptSerial(t, cfg.DataDir, k.roots); got != s.serial {
			t.Errorf("%s: kept list %d, want %d", s.name, got, s.serial)
		}
	}
}

// TestRevocationPolicyKeptList: a kept list that does not verify fails
// every bundle's policy (the agent cannot tell what it revoked), except
// one signed by a root this build does not trust, which has no authority
// here and is left out.
func TestRevocationPolicyKeptList(t *testing.T) {
	k := newRevocationKeys(t)
	tests := []struct {
		name, kept string
		ok         bool
	}{
		{"none", "", true},
		{"by a root not trusted", string(k.listBy(t, k.stranger, 4, k.newKey)), true},
		{"damaged", "{not json", false},
		{"tampered", strings.Replace(string(k.list(t, 2, k.oldKey)), `"list": "`, `"list": "A`, 1), false},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		if tc.kept != "" {
			os.WriteFile(revocationsPath(dir), []byte(tc.kept), 0o600)
		}
		p, err := updatePolicyFor(Options{Version: "1.0.0", UpdateRoots: k.roots, revocations: &revocationStore{dir: dir}}, time.Now(), false)
		if (err == nil) != tc.ok || (err == nil && p.Revocations != nil) {
			t.Errorf("%s: %v, revocations %+v", tc.name, err, p.Revocations)
		}
	}
}

// TestUpdateRevocationsTask: through the update-agent task, a bundle
// carrying a list that revokes the old signing key is installed and its
// list kept; the new version then refuses a bundle signed by the revoked
// key (revoked-key), and the active slot stays.
func TestUpdateRevocationsTask(t *testing.T) {
	k := newRevocationKeys(t)
	r := newUpdateRig(t, "1.1.0")
	r.roots = k.roots
	bundles := map[string][]byte{
		"/carrying.tar": k.bundle(t, k.newKey, "1.1.0", k.list(t, 2, k.oldKey)),
		"/revoked.tar":  k.bundle(t, k.oldKey, "1.2.0", nil),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "b.tar", time.Time{}, bytes.NewReader(bundles[req.URL.Path]))
	}))
	t.Cleanup(srv.Close)
	task := func(id, path, version string) protocol.TaskRequest {
		sum := sha256.Sum256(bundles[path])
		payload, _ := json.Marshal(protocol.UpdateAgentPayload{URL: srv.URL + path, SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(bundles[path])), Version: version})
		return protocol.TaskRequest{ID: id, Type: protocol.TaskUpdateAgent, Payload: payload}
	}
	hub := newTaskHub(t)
	done, a := r.process(t, hub, r.cfg, "1.0.0")
	a.waitReady(t)
	a.deliverWhenConnected(t, task("up1", "/carrying.tar", "1.1.0"))
	waitEnd(t, done, "1.0.0 after the switch")
	if got := keptSerial(t, r.cfg.DataDir, k.roots); got != 2 {
		t.Fatalf("kept list after the bundle carrying it: %d", got)
	}
	_, b := r.process(t, hub, r.cfg, "1.1.0")
	b.waitReady(t)
	if st := waitStatus(t, hub, "up1"); st.State != protocol.TaskCompleted {
		t.Fatalf("up1: %+v", st)
	}
	b.deliverWhenConnected(t, task("up2", "/revoked.tar", "1.2.0"))
	if st := waitStatus(t, hub, "up2"); st.State != protocol.TaskFailed || !strings.Contains(st.Error, "("+firmware.ReasonRevoked+")") {
		t.Errorf("a bundle signed by the revoked key: %+v", st)
	}
	if got := r.active(t); got != "1.1.0" {
		t.Errorf("active slot: %q", got)
	}
}
