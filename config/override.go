package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/tessera-print/tessera/internal/atomicfile"
)

// The override file (the cloud-link issue, docs/config.md "The override
// file"): keys a set-config task (or the firmware issue's USB stick)
// applied, kept in the data directory so they persist across restarts.
// A config is made of layers, lowest first: the defaults, the --config
// file, the override file, the command-line flags.

// OverrideFile is the override file's name in the data directory.
const OverrideFile = "config.override.json"

// OverridePath is the override file of the data directory dataDir.
func OverridePath(dataDir string) string { return filepath.Join(dataDir, OverrideFile) }

// Override is a partial config: keys of the config file, each with its
// JSON value.
type Override map[string]json.RawMessage

// Keys lists the config file's keys, sorted.
func Keys() []string {
	t := reflect.TypeFor[Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// RemoteRefused lists the keys a set-config task may not change: where
// the agent keeps its data, its identity, the trust it places in the hub
// and the printer, and the files holding secrets. A remote change of any
// of them could hand the agent to someone else, or read a file of the
// box's choosing; they are set at provisioning (or by the USB stick).
func RemoteRefused() []string {
	return []string{"data_dir", "device_token_file", "enroll_code",
		"hub_ca_file", "hub_cert_sha256", "proxy_password_file",
		"printer_ca_file", "printer_cert_sha256", "cups_password_file",
		"ipp_cert_file", "ipp_key_file", "panel_token_file", "panel_cert_file", "panel_key_file",
		"technician_pin_file", "technician_pin_hash", "trust_dir", "media_roots", "log_file"}
}

// CheckRemote reports every key of o a set-config task may not set: keys
// the config does not have and keys RemoteRefused lists.
func CheckRemote(o Override) error {
	known, refused := Keys(), RemoteRefused()
	var errs []error
	for _, k := range o.sortedKeys() {
		switch {
		case slices.Contains(refused, k):
			errs = append(errs, fmt.Errorf("key %s cannot be set remotely", k))
		case !slices.Contains(known, k):
			errs = append(errs, fmt.Errorf("unknown key %q", k))
		}
	}
	return errors.Join(errs...)
}

func (o Override) sortedKeys() []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Merge returns o with the keys of p set over it; neither is changed.
func (o Override) Merge(p Override) Override {
	out := make(Override, len(o)+len(p))
	for k, v := range o {
		out[k] = v
	}
	for k, v := range p {
		out[k] = v
	}
	return out
}

// ApplyOverride sets the keys of o over c, key by key, and reports every
// key that is unknown, not for an override (data_dir: the override lives
// in it), or whose value does not decode; the keys that decode are set.
func (c *Config) ApplyOverride(o Override) error {
	known := Keys()
	var errs []error
	for _, k := range o.sortedKeys() {
		if !slices.Contains(known, k) {
			errs = append(errs, fmt.Errorf("unknown key %q", k))
			continue
		}
		if k == "data_dir" {
			errs = append(errs, errors.New("data_dir cannot be overridden: the override file lives in it"))
			continue
		}
		if k == "trust_dir" || k == "media_roots" {
			// What the agent trusts a stick from is the image's, never a
			// stick's or the hub's (which write the override file).
			errs = append(errs, fmt.Errorf("%s cannot be overridden: set it in the config file or a flag", k))
			continue
		}
		one, err := json.Marshal(map[string]json.RawMessage{k: o[k]})
		if err == nil {
			err = json.Unmarshal(one, c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// Value is key's value in c, as JSON ("" for an unknown key): values are
// compared in this form, whatever form the file or a task wrote them in
// ("75s" and "1m15s" are the same).
func (c Config) Value(key string) string {
	b, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return ""
	}
	return string(m[key])
}

// ReadOverride reads an override file; a missing file is an empty
// override.
func ReadOverride(path string) (Override, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Override{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("override file: %w", err)
	}
	o := Override{}
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("override file %s: %w", path, err)
	}
	return o, nil
}

// WriteOverride writes o to path atomically (atomicfile.Write); an empty o
// removes the file.
func WriteOverride(path string, o Override) error {
	if len(o) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("override file: %w", err)
		}
		return atomicfile.SyncDir(filepath.Dir(path))
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return fmt.Errorf("override file: %w", err)
	}
	return atomicfile.Write(path, append(data, '\n'))
}

// Layers are where `tessera run` takes its config from, lowest first: the
// defaults (or Base), the config file, the override file in the data
// directory, the command-line flags.
type Layers struct {
	// Base is the config under the file (nil: Default()).
	Base *Config
	// File is the config file (--config; "": none).
	File string
	// Flags applies the command line over a config (nil: none). It is
	// called for each config Layers makes, so it must parse anew.
	Flags func(*Config) error
}

// Load makes the config from every layer, the override file read from
// the data directory the file and flags name, and returns it with that
// override.
func (l Layers) Load() (Config, Override, error) {
	under, err := l.With(nil)
	if err != nil {
		return under, nil, err
	}
	o, err := ReadOverride(OverridePath(under.DataDir))
	if err != nil {
		return under, nil, err
	}
	cfg, err := l.With(o)
	return cfg, o, err
}

// With makes the config from the layers with o as the override file.
func (l Layers) With(o Override) (Config, error) {
	cfg := Default()
	if l.Base != nil {
		cfg = *l.Base
	}
	if l.File != "" {
		var err error
		if cfg, err = Load(l.File); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyOverride(o); err != nil {
		return cfg, fmt.Errorf("%s: %w", OverrideFile, err)
	}
	if l.Flags != nil {
		if err := l.Flags(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
