package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/firmware/media"
)

// USB provisioning (the firmware issue, docs/provisioning.md): a stick's
// signed provisioning document is checked in full before anything is
// written (planStick, here), then applied by the supervisor like a
// set-config, health check and rollback included (supervise_stick.go),
// and its outcome written back to the stick. A refusal changes nothing.

// stickRefused are the config keys a stick may never set: where the
// agent keeps its data, what it trusts sticks from, and the files the
// agent writes or deletes (its device token, its log: a reset removes
// them). Secret files come as content fields instead.
func stickRefused() []string {
	return []string{"data_dir", "trust_dir", "media_roots", "device_token_file", "log_file"}
}

// provisionDir is where a stick's content fields are written, one
// directory per applied provisioning id (the previous one stays until
// the new one is running, for a rollback).
func provisionDir(dataDir string) string { return filepath.Join(dataDir, "provision") }

// stickPlan is a verified provisioning, ready to apply.
type stickPlan struct {
	id  string
	key firmware.PublicKey
	// patch is what the override file gets: the document's config keys,
	// and the keys naming the files and the PIN's hash.
	patch config.Override
	// files are written (0600) under provisionDir/id before the patch.
	files map[string][]byte
	// bundle is an update bundle's path on the stick ("": none).
	bundle string
}

// refusal is one reason a stick was refused, as the result file says it.
type refusal struct {
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func refusalOf(key string, err error) refusal {
	reason := firmware.ReasonOf(err)
	switch {
	case errors.Is(err, errStayedBusy) || errors.Is(err, firmware.ErrBusy):
		reason = "busy"
	case reason == "":
		reason = firmware.ReasonMalformed
	}
	var r *firmware.Refusal
	detail := err.Error()
	if errors.As(err, &r) {
		detail = r.Detail
	}
	return refusal{Key: key, Reason: reason, Detail: detail}
}

// stickPair reads a stick's provisioning pair, bounded; a stick pulled
// out, or a pair changed while read, is unreadable.
func stickPair(stick string) (body, sig []byte, err error) {
	dir := filepath.Join(stick, media.Dir)
	read := func(name string, max int64) ([]byte, error) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(io.LimitReader(f, max))
	}
	if body, err = read(media.ProvisionFile, 2<<20); err == nil {
		if sig, err = read(media.SignatureFile, 64<<10); err == nil {
			// Read again: the same bytes, or the stick moved under us.
			var again []byte
			if again, err = read(media.ProvisionFile, 2<<20); err == nil && !slices.Equal(again, body) {
				err = errors.New("provision.json changed while it was read")
			}
		}
	}
	if err != nil {
		return nil, nil, &firmware.Refusal{Reason: firmware.ReasonUnreadable, Detail: fmt.Sprintf("the stick could not be read: %v", err)}
	}
	return body, sig, nil
}

// planStick reads and checks the stick's provisioning against the
// running config cur and the ids applied before; nothing is written.
// A refused stick has one refusal or more, and no plan.
func planStick(stick string, cur config.Config, applied []string, log *slog.Logger) (*stickPlan, []refusal) {
	body, sig, err := stickPair(stick)
	if err != nil {
		return nil, []refusal{refusalOf("", err)}
	}
	keys, errs := provisioningKeys(cur.DataDir, cur.TrustDir)
	for _, err := range errs {
		log.Warn("provisioning: a trusted key file does not load", "err", err)
	}
	key, err := firmware.VerifyProvision(keys, body, sig)
	if err != nil {
		return nil, []refusal{refusalOf("", err)}
	}
	doc, err := firmware.ParseProvision(body)
	if err != nil {
		return nil, []refusal{refusalOf("", err)}
	}
	if slices.Contains(applied, doc.ID) {
		return nil, []refusal{{Reason: firmware.ReasonReplayed, Detail: fmt.Sprintf("provisioning %q was applied here before", doc.ID)}}
	}
	ids, errs := stickIdentities(cur.DataDir, cur.TrustDir)
	for _, err := range errs {
		log.Warn("provisioning: an age identity does not load", "err", err)
	}
	if err := firmware.DecryptSecrets(&doc, ids); err != nil {
		return nil, []refusal{refusalOf("", err)}
	}
	plan := &stickPlan{id: doc.ID, key: key, patch: config.Override{}, files: map[string][]byte{}}
	refused := plan.configKeys(doc.Config)
	refused = append(refused, plan.contentFields(doc, cur)...)
	if doc.Bundle != "" {
		plan.bundle = filepath.Join(stick, media.Dir, doc.Bundle)
		if fi, err := os.Stat(plan.bundle); err != nil || !fi.Mode().IsRegular() {
			refused = append(refused, refusal{Key: "bundle", Reason: firmware.ReasonUnreadable, Detail: fmt.Sprintf("bundle %s is not on the stick", doc.Bundle)})
		}
	}
	if len(refused) > 0 {
		return nil, refused
	}
	return plan, nil
}

// configKeys takes the document's config keys into the patch, refusing
// those a stick may not set, those the config does not have, and values
// that do not decode.
func (p *stickPlan) configKeys(c map[string]json.RawMessage) []refusal {
	var refused []refusal
	known := config.Keys()
	for _, k := range slices.Sorted(maps.Keys(c)) {
		switch {
		case slices.Contains(stickRefused(), k):
			refused = append(refused, refusal{Key: k, Reason: firmware.ReasonRefusedKey, Detail: k + " is set only by the image (the config file or a flag)"})
			continue
		case k == "snmp" && namesPassFile(c[k]):
			refused = append(refused, refusal{Key: k, Reason: firmware.ReasonRefusedKey,
				Detail: "the snmp URL names a password file: give snmp_auth_pass and snmp_priv_pass (encrypted) instead"})
			continue
		case !slices.Contains(known, k):
			refused = append(refused, refusal{Key: k, Reason: firmware.ReasonRefusedKey, Detail: fmt.Sprintf("unknown key %q", k)})
			continue
		}
		probe := config.Default()
		if err := probe.ApplyOverride(config.Override{k: c[k]}); err != nil {
			refused = append(refused, refusal{Key: k, Reason: firmware.ReasonMalformed, Detail: err.Error()})
			continue
		}
		p.patch[k] = c[k]
	}
	return refused
}

// namesPassFile reports whether an snmp URL value names password files.
func namesPassFile(v json.RawMessage) bool {
	var raw string
	if json.Unmarshal(v, &raw) != nil {
		return false // the value's own check says so
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Query().Has("auth-pass-file") || u.Query().Has("priv-pass-file"))
}

// contentFields plans the document's content fields: each written to a
// file, the setting that names it pointed there; the technician PIN
// hashed.
func (p *stickPlan) contentFields(doc firmware.Provision, cur config.Config) []refusal {
	dir := filepath.Join(provisionDir(cur.DataDir), doc.ID)
	var refused []refusal
	file := func(field, key, name, content string) {
		if content == "" {
			return
		}
		path := filepath.Join(dir, name)
		p.files[path] = []byte(content)
		if key != "" {
			p.patch[key], _ = json.Marshal(path)
		}
	}
	file("hub_ca_pem", "hub_ca_file", "hub-ca.pem", doc.HubCAPEM)
	file("printer_ca_pem", "printer_ca_file", "printer-ca.pem", doc.PrinterCAPEM)
	file("proxy_password", "proxy_password_file", "proxy-password", doc.ProxyPassword)
	if doc.SNMPAuthPass != "" || doc.SNMPPrivPass != "" {
		file("snmp_auth_pass", "", "snmp-auth-pass", doc.SNMPAuthPass)
		file("snmp_priv_pass", "", "snmp-priv-pass", doc.SNMPPrivPass)
		if r := p.pointSNMP(doc, cur, dir); r != nil {
			refused = append(refused, *r)
		}
	}
	if doc.TechnicianPIN != "" {
		h, err := hashTechnicianPIN(doc.TechnicianPIN)
		if err != nil {
			refused = append(refused, refusal{Key: "technician_pin", Reason: firmware.ReasonMalformed, Detail: err.Error()})
		} else {
			p.patch["technician_pin_hash"], _ = json.Marshal(h)
		}
	}
	return refused
}

// pointSNMP sets the snmp URL's auth-pass-file and priv-pass-file to the
// stick's passwords' files: in the document's snmp URL, or the running
// one.
func (p *stickPlan) pointSNMP(doc firmware.Provision, cur config.Config, dir string) *refusal {
	raw := cur.SNMP
	if v, ok := p.patch["snmp"]; ok {
		_ = json.Unmarshal(v, &raw)
	}
	u, err := url.Parse(raw)
	if raw == "" || err != nil {
		return &refusal{Key: "snmp_auth_pass", Reason: firmware.ReasonMalformed, Detail: "SNMP passwords without an snmp URL (config snmp) to use them"}
	}
	q := u.Query()
	if doc.SNMPAuthPass != "" {
		q.Set("auth-pass-file", filepath.Join(dir, "snmp-auth-pass"))
	}
	if doc.SNMPPrivPass != "" {
		q.Set("priv-pass-file", filepath.Join(dir, "snmp-priv-pass"))
	}
	u.RawQuery = q.Encode()
	p.patch["snmp"], _ = json.Marshal(u.String())
	return nil
}

// writeFiles writes the plan's files, readable by the agent only.
func (p *stickPlan) writeFiles() error {
	for _, path := range slices.Sorted(maps.Keys(p.files)) {
		if err := writeSecretFile(path, p.files[path]); err != nil {
			return fmt.Errorf("provisioning: %w", err)
		}
	}
	return nil
}

// keys are the config keys the plan sets, sorted: the result's "applied".
func (p *stickPlan) keys() []string {
	return slices.Sorted(maps.Keys(p.patch))
}

// appliedFile lists the provisioning ids applied here (a stick's id is
// applied once).
const appliedFile = "provisioned.json"

// readApplied reads the ids applied before.
func readApplied(dataDir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, appliedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provisioned ids: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, fmt.Errorf("provisioned ids %s: %w", appliedFile, err)
	}
	return ids, nil
}

// recordApplied adds id to the ids applied.
func recordApplied(dataDir, id string) error {
	ids, err := readApplied(dataDir)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(append(ids, id))
	return writeSecretFile(filepath.Join(dataDir, appliedFile), b)
}

// pruneProvisionDirs removes the content files of earlier provisionings
// the override o no longer names (a later stick set the same keys): o is
// a merge, so a key an earlier stick set may still point into its
// directory. A path is named as it is, or query-escaped in the snmp URL.
func pruneProvisionDirs(dataDir string, o config.Override) {
	named, _ := json.Marshal(o)
	entries, _ := os.ReadDir(provisionDir(dataDir))
	for _, e := range entries {
		dir := filepath.Join(provisionDir(dataDir), e.Name()) + string(filepath.Separator)
		if !bytes.Contains(named, []byte(dir)) && !bytes.Contains(named, []byte(url.QueryEscape(dir))) {
			_ = os.RemoveAll(dir)
		}
	}
}

// stickPending marks a stick being applied (DATA/stick-pending.json):
// written before the override, removed once the new configuration passed
// its health check. A start that finds it restores the previous override
// (settleStick): a kill mid-way never leaves an unchecked configuration.
type stickPending struct {
	ID       string          `json:"id"`
	Previous config.Override `json:"previous"`
}

func stickPendingPath(dataDir string) string { return filepath.Join(dataDir, "stick-pending.json") }

func writeStickPending(path string, p stickPending) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return writeSecretFile(path, b)
}

// settleStick undoes a stick's application a previous process did not
// finish: the previous override back, the stick's files removed. The
// stick, still in, is then applied again from the start.
func (sv *supervisor) settleStick(cfg config.Config) (config.Config, error) {
	path := stickPendingPath(cfg.DataDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	var p stickPending
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil {
		return cfg, fmt.Errorf("provisioning: pending marker %s: %w", path, err)
	}
	sv.log.Warn("the previous run stopped while applying a stick; restoring the previous configuration", "id", p.ID)
	if err := config.WriteOverride(config.OverridePath(cfg.DataDir), p.Previous); err != nil {
		return cfg, err
	}
	if provisionID(p.ID) {
		_ = os.RemoveAll(filepath.Join(provisionDir(cfg.DataDir), p.ID))
	}
	if err := removeFile(path); err != nil {
		return cfg, err
	}
	cfg, _, err = sv.layers.Load()
	return cfg, err
}

// provisionID reports whether id can name a directory of provisionDir
// (ParseProvision checked it; a marker file is checked again).
func provisionID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}

// readStickResult reads the result this agent wrote on the stick before.
func readStickResult(stick, agentID string) (stickResult, error) {
	var res stickResult
	b, err := os.ReadFile(stickResultPath(stick, agentID))
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	return res, err
}

// stickResultPath is this agent's result file on the stick.
func stickResultPath(stick, agentID string) string {
	return filepath.Join(stick, media.Dir, "result-"+strings.Map(safeFileRune, agentID)+".json")
}

// stickResult is the result file written back to the stick
// (tessera/result-AGENTID.json; the contract).
type stickResult struct {
	Status        string    `json:"status"` // applied | refused
	ID            string    `json:"id,omitempty"`
	Applied       []string  `json:"applied"`
	Refused       []refusal `json:"refused"`
	AgentID       string    `json:"agent_id"`
	Version       string    `json:"version"`
	PrinterSerial string    `json:"printer_serial"`
	// At is the agent's clock when it wrote the result: a box without a
	// real-time clock may be wrong, so it says nothing the agent relies on.
	At string `json:"at"`
}

// writeStickResult writes res to the stick; a stick gone meanwhile loses
// it (logged by the caller).
func writeStickResult(stick string, res stickResult) error {
	if res.Applied == nil {
		res.Applied = []string{}
	}
	if res.Refused == nil {
		res.Refused = []refusal{}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeSecretFile(stickResultPath(stick, res.AgentID), append(b, '\n'))
}

// safeFileRune keeps a rune that a vfat file name can hold.
func safeFileRune(r rune) rune {
	if r < 0x20 || strings.ContainsRune(`<>:"/\|?*`, r) {
		return '-'
	}
	return r
}
