package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// A provisioning document (docs/provisioning.md): what a technician's
// USB stick sets on an agent, signed by a provisioning key the agent
// trusts. Its secret fields are encrypted with age to the site's key or
// the device's own, so a lost stick gives away no password.

// purposeProvision is the signature purpose of a provisioning document.
const purposeProvision purpose = "tessera provisioning v1"

// maxProvision bounds provision.json (CA bundles included).
const maxProvision = 1 << 20

// Provision is a stick's tessera/provision.json.
type Provision struct {
	// ID names this provisioning: applied once per agent.
	ID string `json:"id"`
	// Config is a partial configuration in the config file's keys,
	// written to the agent's override file.
	Config map[string]json.RawMessage `json:"config,omitempty"`
	// Content fields: written to files in the data directory, with the
	// settings that name them pointed there.
	HubCAPEM      string `json:"hub_ca_pem,omitempty"`
	PrinterCAPEM  string `json:"printer_ca_pem,omitempty"`
	SNMPAuthPass  string `json:"snmp_auth_pass,omitempty"`
	SNMPPrivPass  string `json:"snmp_priv_pass,omitempty"`
	ProxyPassword string `json:"proxy_password,omitempty"`
	// TechnicianPIN is hashed on arrival (config technician_pin_hash).
	TechnicianPIN string `json:"technician_pin,omitempty"`
	// Bundle names an update bundle on the same stick (in tessera/).
	Bundle string `json:"bundle,omitempty"`
}

// SecretConfigKeys are the config keys a provisioning document carries
// encrypted, as the secret fields are.
func SecretConfigKeys() []string { return []string{"enroll_code"} }

// secrets are the document's secret fields, by JSON name.
func (p *Provision) secrets() map[string]*string {
	return map[string]*string{"snmp_auth_pass": &p.SNMPAuthPass, "snmp_priv_pass": &p.SNMPPrivPass,
		"proxy_password": &p.ProxyPassword, "technician_pin": &p.TechnicianPIN}
}

var (
	provisionID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	bundleName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
)

// ParseProvision reads a provisioning document (its signature checked
// apart: VerifyProvision). Secret fields are left as they are.
func ParseProvision(data []byte) (Provision, error) {
	var p Provision
	if len(data) > maxProvision {
		return p, refuse(ReasonMalformed, "provision.json larger than %d bytes", maxProvision)
	}
	if err := decodeStrict(data, &p); err != nil {
		return p, refuse(ReasonMalformed, "provision.json: %v", err)
	}
	var errs []string
	if !provisionID.MatchString(p.ID) {
		errs = append(errs, fmt.Sprintf("id %q: 1 to 128 letters, digits, '.', '_', ':' or '-'", p.ID))
	}
	if p.Bundle != "" && (!bundleName.MatchString(p.Bundle) || strings.Contains(p.Bundle, "..")) {
		errs = append(errs, fmt.Sprintf("bundle %q: a file name in the stick's tessera directory", p.Bundle))
	}
	for k, v := range p.Config {
		if len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null" {
			errs = append(errs, fmt.Sprintf("config %s: no value", k))
		}
	}
	if len(errs) > 0 {
		return p, refuse(ReasonMalformed, "provision.json: %s", strings.Join(errs, "; "))
	}
	return p, nil
}

// ProvisionSig is a stick's tessera/provision.sig: the signing key's ID,
// so an agent tells an unknown key from a bad signature.
type ProvisionSig struct {
	Key string `json:"key"`
	Sig []byte `json:"sig"`
}

// SignProvision signs a provisioning document's exact bytes.
func SignProvision(key *PrivateKey, body []byte) []byte {
	data, _ := json.MarshalIndent(ProvisionSig{Key: key.Public().ID(), Sig: key.sign(purposeProvision, body)}, "", "  ")
	return append(data, '\n')
}

// VerifyProvision checks sig (provision.sig's content) over body with
// the trusted provisioning keys, and returns the key that signed.
func VerifyProvision(trusted []PublicKey, body, sig []byte) (PublicKey, error) {
	var s ProvisionSig
	if len(sig) > maxDocument {
		return PublicKey{}, refuse(ReasonMalformed, "provision.sig larger than %d bytes", maxDocument)
	}
	if err := decodeStrict(sig, &s); err != nil {
		return PublicKey{}, refuse(ReasonMalformed, "provision.sig: %v", err)
	}
	i := slices.IndexFunc(trusted, func(k PublicKey) bool { return k.ID() == s.Key })
	if i < 0 {
		return PublicKey{}, refuse(ReasonUnknownKey, "signed by key %q, which this agent does not trust", s.Key)
	}
	if !verify(trusted[i].Key, purposeProvision, body, s.Sig) {
		return trusted[i], refuse(ReasonSignature, "provision.sig does not verify with key %s (%s)", s.Key, trusted[i].Name)
	}
	return trusted[i], nil
}

// EncryptSecrets encrypts p's secret fields and secret config keys to
// recipients (armored age). With no recipient, a secret is an error: a
// stick never carries one in clear.
func EncryptSecrets(p *Provision, recipients []age.Recipient) error {
	p.Config = maps.Clone(p.Config) // the caller's map stays as it was
	for name, field := range p.secrets() {
		if *field == "" {
			continue
		}
		if len(recipients) == 0 {
			return fmt.Errorf("%s: a secret needs a recipient to encrypt it to", name)
		}
		enc, err := encryptArmored(*field, recipients)
		if err != nil {
			return fmt.Errorf("encrypt %s: %w", name, err)
		}
		*field = enc
	}
	for _, k := range SecretConfigKeys() {
		raw, ok := p.Config[k]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("config %s: %w", k, err)
		}
		if len(recipients) == 0 {
			return fmt.Errorf("config %s: a secret needs a recipient to encrypt it to", k)
		}
		enc, err := encryptArmored(v, recipients)
		if err != nil {
			return fmt.Errorf("encrypt config %s: %w", k, err)
		}
		p.Config[k], _ = json.Marshal(enc)
	}
	return nil
}

// DecryptSecrets decrypts p's secret fields and secret config keys with
// identities. A secret in clear, or one none of identities opens, is
// refused (ReasonMalformed, ReasonUnknownKey): nothing is applied.
func DecryptSecrets(p *Provision, identities []age.Identity) error {
	p.Config = maps.Clone(p.Config)
	var errs []string
	open := func(name string, v *string) {
		if !strings.HasPrefix(strings.TrimSpace(*v), armor.Header) {
			errs = append(errs, name+" is in clear: secrets must be encrypted (tessera-sign provision --recipient)")
			return
		}
		clear, err := decryptArmored(*v, identities)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			return
		}
		*v = clear
	}
	for name, field := range p.secrets() {
		if *field != "" {
			open(name, field)
		}
	}
	for _, k := range SecretConfigKeys() {
		raw, ok := p.Config[k]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			errs = append(errs, fmt.Sprintf("config %s: %v", k, err))
			continue
		}
		open("config "+k, &v)
		p.Config[k], _ = json.Marshal(v)
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return refuse(ReasonSecret, "%s", strings.Join(errs, "; "))
	}
	return nil
}

// maxSecret bounds one decrypted secret.
const maxSecret = 64 << 10

func encryptArmored(clear string, recipients []age.Recipient) (string, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recipients...)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, clear); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func decryptArmored(enc string, identities []age.Identity) (string, error) {
	if len(identities) == 0 {
		return "", errors.New("no age identity here to decrypt it (DATA/identity.age or a site key in trust_dir)")
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), identities...)
	if err != nil {
		var none *age.NoIdentityMatchError
		if errors.As(err, &none) {
			return "", errors.New("encrypted to a key this agent does not hold")
		}
		return "", fmt.Errorf("not a valid age message: %v", err)
	}
	clear, err := io.ReadAll(io.LimitReader(r, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("decrypt: %v", err)
	}
	if len(clear) > maxSecret {
		return "", fmt.Errorf("larger than %d bytes", maxSecret)
	}
	return string(clear), nil
}
