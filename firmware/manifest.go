package firmware

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"github.com/tessera-print/tessera/version"
)

// Product is the only product an agent's bundle may name.
const Product = "tessera"

// maxPayload bounds one payload (the agent's binary is ~30 MB).
const maxPayload = 256 << 20

// maxPayloads bounds how many payloads one bundle carries.
const maxPayloads = 16

// payloadName is a payload's file name: no directories, nothing hidden.
var payloadName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// Manifest describes a bundle: manifest.json, signed by manifest.sig.
type Manifest struct {
	Product    string    `json:"product"`
	Version    string    `json:"version"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	MinVersion string    `json:"min_version,omitempty"` // the lowest version it updates from
	Notes      string    `json:"notes,omitempty"`       // release notes, for people
	Expires    time.Time `json:"expires"`
	Payloads   []Payload `json:"payloads"`
}

// Payload is one file of a bundle.
type Payload struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// ParseManifest reads and checks a manifest's form (not its signature:
// that is checked over the bytes, before they are parsed).
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxDocument {
		return nil, refuse(ReasonMalformed, "manifest larger than %d bytes", maxDocument)
	}
	var m Manifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, refuse(ReasonMalformed, "manifest: %v", err)
	}
	if err := m.check(); err != nil {
		return nil, refuse(ReasonMalformed, "manifest: %v", err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	switch {
	case m.Product == "":
		return fmt.Errorf("no product")
	case m.OS == "" || m.Arch == "":
		return fmt.Errorf("no os or arch")
	case m.Expires.IsZero():
		return fmt.Errorf("no expiry")
	case len(m.Payloads) == 0 || len(m.Payloads) > maxPayloads:
		return fmt.Errorf("%d payloads, want 1 to %d", len(m.Payloads), maxPayloads)
	}
	if _, err := version.Parse(m.Version); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	if m.MinVersion != "" {
		if _, err := version.Parse(m.MinVersion); err != nil {
			return fmt.Errorf("min_version: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, p := range m.Payloads {
		if !payloadName.MatchString(p.Name) || p.Name == memberManifest || p.Name == memberSig || p.Name == memberCert || p.Name == memberRevocations {
			return fmt.Errorf("payload name %q: want a plain file name", p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("payload %s named twice", p.Name)
		}
		seen[p.Name] = true
		if p.Size <= 0 || p.Size > maxPayload {
			return fmt.Errorf("payload %s: size %d, want 1 to %d", p.Name, p.Size, maxPayload)
		}
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
			return fmt.Errorf("payload %s: sha256 %q is not 64 hex digits", p.Name, p.SHA256)
		}
	}
	return nil
}

// The bundle's own members, which no payload may be called.
const (
	memberManifest = "manifest.json"
	memberSig      = "manifest.sig"
	memberCert     = "signing.cert"
	// memberRevocations, optional, follows the certificate: a revocation
	// list travelling to agents with a bundle (signed by a root on its
	// own, so not named by the manifest).
	memberRevocations = "revocations.json"
)
