package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/firmware/media"
	"github.com/tessera-print/tessera/internal/testutil"
)

// stickKit is an agent's trust (a provisioning key in trust_dir, a site
// age key) and a way to write sticks for it.
type stickKit struct {
	cfg     config.Config
	key     *firmware.PrivateKey
	site    *age.X25519Identity
	sticks  string
	written int
}

func newStickKit(t *testing.T) *stickKit {
	t.Helper()
	k := &stickKit{cfg: config.Default(), sticks: t.TempDir()}
	k.cfg.DataDir, k.cfg.TrustDir = t.TempDir(), t.TempDir()
	k.key, _ = firmware.GenerateKey("site-provisioning")
	k.site, _ = age.GenerateX25519Identity()
	if err := os.WriteFile(filepath.Join(k.cfg.TrustDir, "site.pub"), firmware.MarshalPublicKey(k.key.Public()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.cfg.TrustDir, "site.age"), []byte(k.site.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// stick writes doc, its secrets encrypted to to, signed by key, and
// returns the stick; edit changes the signed body before it is written.
func (k *stickKit) stick(t *testing.T, doc firmware.Provision, key *firmware.PrivateKey, to age.Recipient, edit func([]byte) []byte) string {
	t.Helper()
	if to != nil {
		if err := firmware.EncryptSecrets(&doc, []age.Recipient{to}); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := json.Marshal(doc)
	sig := firmware.SignProvision(key, body)
	if edit != nil {
		body = edit(body)
	}
	k.written++
	stick := filepath.Join(k.sticks, "usb"+string(rune('a'+k.written)))
	dir := filepath.Join(stick, media.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{media.ProvisionFile: body, media.SignatureFile: sig} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return stick
}

// TestPlanStick: every refusal the issue names is told with its reason,
// before anything is written; a good stick plans its keys, files and the
// PIN's hash.
func TestPlanStick(t *testing.T) {
	k := newStickKit(t)
	stranger, _ := firmware.GenerateKey("stranger")
	other, _ := age.GenerateX25519Identity()
	good := firmware.Provision{ID: "site-a-7", Config: map[string]json.RawMessage{
		"hub_url": json.RawMessage(`"wss://hub.example"`), "enroll_code": json.RawMessage(`"CODE-1"`),
		"snmp": json.RawMessage(`"snmp://tech@10.0.0.9?version=3&level=authPriv&auth=SHA&priv=AES"`)},
		SNMPAuthPass: "authpass123", SNMPPrivPass: "privpass123", TechnicianPIN: "246810", HubCAPEM: "PEM"}
	with := func(f func(*firmware.Provision)) firmware.Provision {
		d := good
		d.Config = map[string]json.RawMessage{}
		for key, v := range good.Config {
			d.Config[key] = v
		}
		f(&d)
		return d
	}
	pulled := k.stick(t, good, k.key, k.site.Recipient(), nil)
	if err := os.RemoveAll(pulled); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stick   string
		applied []string
		reasons []string
	}{
		{"good", k.stick(t, good, k.key, k.site.Recipient(), nil), nil, nil},
		{"unknown key", k.stick(t, good, stranger, k.site.Recipient(), nil), nil, []string{firmware.ReasonUnknownKey}},
		{"tampered", k.stick(t, good, k.key, k.site.Recipient(), func(b []byte) []byte {
			return []byte(strings.Replace(string(b), "hub.example", "evil.example", 1))
		}), nil, []string{firmware.ReasonSignature}},
		{"replayed", k.stick(t, good, k.key, k.site.Recipient(), nil), []string{"site-a-7"}, []string{firmware.ReasonReplayed}},
		{"for another device", k.stick(t, good, k.key, other.Recipient(), nil), nil, []string{firmware.ReasonSecret}},
		{"secret in clear", k.stick(t, with(func(d *firmware.Provision) {
			d.SNMPAuthPass, d.SNMPPrivPass, d.TechnicianPIN = "x", "", ""
			delete(d.Config, "enroll_code")
		}), k.key, nil, nil), nil, []string{firmware.ReasonSecret}},
		{"keys a stick may not set", k.stick(t, with(func(d *firmware.Provision) {
			d.Config["trust_dir"] = json.RawMessage(`"/tmp"`)
			d.Config["media_roots"] = json.RawMessage(`["/tmp"]`)
			d.Config["no_such_key"] = json.RawMessage(`1`)
			d.Config["debounce"] = json.RawMessage(`"soon"`)
		}), k.key, k.site.Recipient(), nil), nil, []string{firmware.ReasonMalformed, firmware.ReasonRefusedKey, firmware.ReasonRefusedKey, firmware.ReasonRefusedKey}},
		{"files a stick may not name", k.stick(t, with(func(d *firmware.Provision) {
			d.Config["log_file"] = json.RawMessage(`"/etc/passwd"`)
			d.Config["device_token_file"] = json.RawMessage(`"/etc/x"`)
			d.Config["snmp"] = json.RawMessage(`"snmp://t@10.0.0.9?version=3&level=authPriv&auth=SHA&priv=AES&auth-pass-file=/etc/shadow"`)
		}), k.key, k.site.Recipient(), nil), nil, []string{firmware.ReasonMalformed, firmware.ReasonRefusedKey, firmware.ReasonRefusedKey, firmware.ReasonRefusedKey}},
		{"snmp passwords without snmp", k.stick(t, with(func(d *firmware.Provision) { delete(d.Config, "snmp") }), k.key, k.site.Recipient(), nil), nil, []string{firmware.ReasonMalformed}},
		{"short PIN", k.stick(t, with(func(d *firmware.Provision) { d.TechnicianPIN = "12" }), k.key, k.site.Recipient(), nil), nil, []string{firmware.ReasonMalformed}},
		{"bundle not on the stick", k.stick(t, with(func(d *firmware.Provision) { d.Bundle = "tessera-9.9.9.tar" }), k.key, k.site.Recipient(), nil), nil, []string{firmware.ReasonUnreadable}},
		{"pulled out", pulled, nil, []string{firmware.ReasonUnreadable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, refused := planStick(tt.stick, k.cfg, tt.applied, slog.New(slog.DiscardHandler))
			var reasons []string
			for _, r := range refused {
				reasons = append(reasons, r.Reason)
			}
			slices.Sort(reasons)
			if !slices.Equal(reasons, tt.reasons) {
				t.Fatalf("reasons %v, want %v (%+v)", reasons, tt.reasons, refused)
			}
			if tt.reasons != nil {
				if plan != nil {
					t.Fatal("a refused stick has a plan")
				}
				return
			}
			if plan.id != "site-a-7" || plan.key.ID() != k.key.Public().ID() {
				t.Fatalf("plan %s by %s", plan.id, plan.key.ID())
			}
			want := []string{"enroll_code", "hub_ca_file", "hub_url", "snmp", "technician_pin_hash"}
			if !slices.Equal(plan.keys(), want) {
				t.Fatalf("keys %v, want %v", plan.keys(), want)
			}
			var snmp, hash, code string
			_ = json.Unmarshal(plan.patch["snmp"], &snmp)
			_ = json.Unmarshal(plan.patch["technician_pin_hash"], &hash)
			_ = json.Unmarshal(plan.patch["enroll_code"], &code)
			if !strings.Contains(snmp, "auth-pass-file=") || !strings.Contains(snmp, "priv-pass-file=") || strings.Contains(snmp, "authpass123") {
				t.Errorf("snmp %q", snmp)
			}
			if !checkPINHash(hash, "246810") || checkPINHash(hash, "246811") {
				t.Errorf("PIN hash %q", hash)
			}
			if code != "CODE-1" {
				t.Errorf("enroll_code %q", code)
			}
			if entries, _ := os.ReadDir(k.cfg.DataDir); len(entries) != 1 || entries[0].Name() != ageIdentityFile {
				t.Errorf("planning wrote %v in the data directory", entries)
			}
		})
	}
}

// TestStickResultName: the result's name holds only what a vfat stick
// can.
func TestStickResultName(t *testing.T) {
	stick := t.TempDir()
	if err := os.MkdirAll(filepath.Join(stick, media.Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeStickResult(stick, stickResult{Status: "refused", AgentID: `a:b/c*d`}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(stick, media.Dir, "result-a-b-c-d.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"status", "applied", "refused", "agent_id", "version", "printer_serial", "at"} {
		if _, ok := got[key]; !ok {
			t.Errorf("the result lacks %q: %s", key, data)
		}
	}
}

// TestStickBundle: a stick with a configuration and an update bundle:
// the configuration is applied, then the bundle verified, installed and
// switched to (the process re-executes); a bundle the update rules
// refuse (a downgrade) leaves the applied configuration running and
// says why in the result.
func TestStickBundle(t *testing.T) {
	tests := []struct {
		name, bundle string
		exec         bool
		refused      string
	}{
		{"newer", "1.1.0", true, ""},
		{"downgrade", "0.9.0", false, firmware.ReasonDowngrade},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newUpdateRig(t, tt.bundle)
			resp, err := http.Get(r.payload.URL)
			if err != nil {
				t.Fatal(err)
			}
			bundle, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			k := newStickKit(t)
			cfg := r.cfg
			cfg.TrustDir, cfg.MediaRoots = k.cfg.TrustDir, []string{k.sticks}
			k.cfg.DataDir = cfg.DataDir
			done, a := r.process(t, newTaskHub(t), cfg, "1.0.0")
			a.waitReady(t)
			doc := firmware.Provision{ID: "with-bundle", Config: map[string]json.RawMessage{"language": json.RawMessage(`"de"`)},
				Bundle: "tessera.tar"}
			stick := k.stick(t, doc, k.key, nil, nil)
			if err := os.WriteFile(filepath.Join(stick, media.Dir, "tessera.tar"), bundle, 0o644); err != nil {
				t.Fatal(err)
			}
			var res stickResult
			testutil.WaitErr(t, 30*time.Second, "the stick's result", func() error {
				files, _ := filepath.Glob(filepath.Join(stick, media.Dir, "result-*.json"))
				if len(files) != 1 {
					return errors.New("no result yet")
				}
				data, _ := os.ReadFile(files[0])
				return json.Unmarshal(data, &res)
			})
			if res.Status != "applied" || !slices.Contains(res.Applied, "language") {
				t.Fatalf("result %+v", res)
			}
			if tt.exec {
				waitEnd(t, done, "1.0.0 after the stick's switch")
				if got := r.active(t); got != tt.bundle || !slices.Contains(res.Applied, "bundle") {
					t.Fatalf("active %s, result %+v", got, res)
				}
				return
			}
			if len(res.Refused) != 1 || res.Refused[0].Key != "bundle" || res.Refused[0].Reason != tt.refused {
				t.Fatalf("result %+v, want the bundle refused %s", res, tt.refused)
			}
			if got := r.active(t); got != "1.0.0" {
				t.Fatalf("active slot %s after a refused bundle", got)
			}
		})
	}
}

// TestStickRevocations: a root's revocation list beside a stick's pair is
// kept when newer (and named in the result's applied), an older one is
// no refusal, and one from another root is refused with its reason.
func TestStickRevocations(t *testing.T) {
	root, _ := firmware.GenerateKey("root")
	other, _ := firmware.GenerateKey("other-root")
	list := func(by *firmware.PrivateKey, serial uint64) []byte {
		b, err := firmware.SignRevocations(by, firmware.Revocations{Serial: serial, Revoked: []string{"966a6ebe248fe038"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	sv := &supervisor{opts: Options{UpdateRoots: []firmware.PublicKey{root.Public()}, revocations: &revocationStore{dir: cfg.DataDir}}, cfg: cfg, log: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name   string
		list   []byte
		kept   bool
		reason string
	}{
		{"newer", list(root, 2), true, ""},
		{"the same", list(root, 2), false, ""},
		{"older", list(root, 1), false, ""},
		{"another root's", list(other, 3), false, firmware.ReasonUnknownKey},
		{"newer again", list(root, 3), true, ""},
	}
	for _, tt := range tests {
		stick := t.TempDir()
		if err := os.MkdirAll(filepath.Join(stick, media.Dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stick, media.Dir, "revocations.json"), tt.list, 0o644); err != nil {
			t.Fatal(err)
		}
		kept, r := sv.stickRevocations(stick)
		reason := ""
		if r != nil {
			reason = r.Reason
		}
		if kept != tt.kept || reason != tt.reason {
			t.Fatalf("%s: kept %v, refused %+v; want kept %v, reason %q", tt.name, kept, r, tt.kept, tt.reason)
		}
	}
}

// TestStickApply: sticks applied to a running agent, one after the other.
// The first sets the hub's CA (a file under DATA/provision/ID); a second
// that sets other keys keeps the first's file, which the merged override
// still names; a third whose configuration fails its health check (its
// panel address taken) is rolled back: the override as it was, its files
// and the pending marker gone, the previous system running again.
func TestStickApply(t *testing.T) {
	k := newStickKit(t)
	cfg := baseConfig(t)
	cfg.TrustDir, cfg.MediaRoots = k.cfg.TrustDir, []string{k.sticks}
	k.cfg.DataDir = cfg.DataDir
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler)}) }()
	t.Cleanup(func() { cancel(); <-done })

	result := func(stick string) stickResult {
		t.Helper()
		var res stickResult
		testutil.WaitErr(t, 2*time.Minute, "the result on "+filepath.Base(stick), func() error {
			files, _ := filepath.Glob(filepath.Join(stick, media.Dir, "result-*.json"))
			if len(files) != 1 {
				return errors.New("no result yet")
			}
			data, _ := os.ReadFile(files[0])
			return json.Unmarshal(data, &res)
		})
		return res
	}
	override := func() config.Override {
		o, err := config.ReadOverride(config.OverridePath(cfg.DataDir))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	ca, err := os.ReadFile(testutil.NewCA(t, "site hub").CertFile)
	if err != nil {
		t.Fatal(err)
	}
	first := k.stick(t, firmware.Provision{ID: "first", HubCAPEM: string(ca)}, k.key, nil, nil)
	if res := result(first); res.Status != "applied" {
		t.Fatalf("the first stick: %+v", res)
	}
	second := k.stick(t, firmware.Provision{ID: "second", Config: map[string]json.RawMessage{"language": json.RawMessage(`"fr"`)}}, k.key, nil, nil)
	if res := result(second); res.Status != "applied" {
		t.Fatalf("the second stick: %+v", res)
	}
	var caFile string
	_ = json.Unmarshal(override()["hub_ca_file"], &caFile)
	if _, err := os.Stat(caFile); err != nil || !strings.Contains(caFile, filepath.Join("provision", "first")) {
		t.Fatalf("after a second stick, hub_ca_file %q: %v", caFile, err)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	before := override()
	third := k.stick(t, firmware.Provision{ID: "third", PrinterCAPEM: string(ca),
		Config: map[string]json.RawMessage{"panel_listen": json.RawMessage(`"` + busy.Addr().String() + `"`)}}, k.key, nil, nil)
	res := result(third)
	if res.Status != "refused" || len(res.Refused) != 1 || res.Refused[0].Reason != firmware.ReasonInvalid ||
		!strings.Contains(res.Refused[0].Detail, "health check") {
		t.Fatalf("the third stick: %+v", res)
	}
	if after := override(); !maps.EqualFunc(before, after, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
		t.Fatalf("the override changed: %v, was %v", after, before)
	}
	for _, gone := range []string{filepath.Join(provisionDir(cfg.DataDir), "third"), stickPendingPath(cfg.DataDir)} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left after the rollback: %v", gone, err)
		}
	}
	if ids, _ := readApplied(cfg.DataDir); !slices.Equal(ids, []string{"first", "second"}) {
		t.Errorf("applied ids %v", ids)
	}
	select {
	case err := <-done:
		t.Fatalf("the agent stopped: %v", err)
	default:
	}
}

// TestSettleStick: a process killed while applying a stick leaves its
// marker; the next start restores the previous override and removes the
// stick's files, so no configuration runs unchecked.
func TestSettleStick(t *testing.T) {
	cfg := baseConfig(t)
	dir := filepath.Join(provisionDir(cfg.DataDir), "half")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	previous := config.Override{"language": json.RawMessage(`"de"`)}
	if err := writeStickPending(stickPendingPath(cfg.DataDir), stickPending{ID: "half", Previous: previous}); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteOverride(config.OverridePath(cfg.DataDir), config.Override{"language": json.RawMessage(`"fr"`)}); err != nil {
		t.Fatal(err)
	}
	_, got, err := newSupervisor(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Language != "de" {
		t.Fatalf("language %q after the settle, want the previous de", got.Language)
	}
	for _, gone := range []string{dir, stickPendingPath(cfg.DataDir)} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", gone, err)
		}
	}
}

// TestUnprovisioned: an agent waits for a stick only when a hub or a
// printer is all its config lacks; a config wrong otherwise is an error.
func TestUnprovisioned(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Config)
		want bool
	}{
		{"provisioned", func(*config.Config) {}, false},
		{"no hub", func(c *config.Config) { c.HubURL = "" }, true},
		{"no hub, no printer", func(c *config.Config) { c.HubURL, c.PrinterURI = "", "" }, true},
		{"no printer, another mistake", func(c *config.Config) { c.PrinterURI, c.JobOrder = "", "random" }, false},
	}
	for _, tt := range tests {
		cfg := baseConfig(t)
		tt.edit(&cfg)
		if got := unprovisioned(cfg); got != tt.want {
			t.Errorf("%s: unprovisioned %v, want %v", tt.name, got, tt.want)
		}
	}
}
