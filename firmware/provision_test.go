package firmware

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"filippo.io/age"
)

// provisionDoc is a provisioning document with every field in clear.
func provisionDoc() Provision {
	return Provision{ID: "site-a:2026-12-08", Config: map[string]json.RawMessage{
		"hub_url": json.RawMessage(`"wss://hub.example"`), "enroll_code": json.RawMessage(`"ENROLL-1234"`)},
		HubCAPEM: "-----BEGIN CERTIFICATE-----\n", SNMPAuthPass: "auth-secret", SNMPPrivPass: "priv-secret",
		ProxyPassword: "proxy-secret", TechnicianPIN: "246810", Bundle: "tessera-1.2.0.tar"}
}

func TestProvisionRoundTrip(t *testing.T) {
	key, _ := GenerateKey("provisioning")
	other, _ := GenerateKey("other")
	site, _ := age.GenerateX25519Identity()
	stranger, _ := age.GenerateX25519Identity()

	doc := provisionDoc()
	if err := EncryptSecrets(&doc, []age.Recipient{site.Recipient()}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(doc)
	for _, secret := range []string{"auth-secret", "priv-secret", "proxy-secret", "246810", "ENROLL-1234"} {
		if strings.Contains(string(body), secret) {
			t.Fatalf("the signed document holds %q in clear", secret)
		}
	}
	sig := SignProvision(key, body)

	tests := []struct {
		name    string
		trusted []PublicKey
		body    []byte
		ids     []age.Identity
		reason  string
	}{
		{"good", []PublicKey{other.Public(), key.Public()}, body, []age.Identity{stranger, site}, ""},
		{"unknown key", []PublicKey{other.Public()}, body, []age.Identity{site}, ReasonUnknownKey},
		{"tampered", []PublicKey{key.Public()}, []byte(strings.Replace(string(body), "hub.example", "evil.example", 1)), []age.Identity{site}, ReasonSignature},
		{"secrets for another device", []PublicKey{key.Public()}, body, []age.Identity{stranger}, ReasonSecret},
		{"no identity", []PublicKey{key.Public()}, body, nil, ReasonSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyProvision(tt.trusted, tt.body, sig)
			var got Provision
			if err == nil {
				got, err = ParseProvision(tt.body)
			}
			if err == nil {
				err = DecryptSecrets(&got, tt.ids)
			}
			if ReasonOf(err) != tt.reason {
				t.Fatalf("err = %v (reason %q), want reason %q", err, ReasonOf(err), tt.reason)
			}
			if tt.reason == "" {
				want := provisionDoc()
				if got.SNMPAuthPass != want.SNMPAuthPass || got.TechnicianPIN != want.TechnicianPIN ||
					string(got.Config["enroll_code"]) != `"ENROLL-1234"` || got.HubCAPEM != want.HubCAPEM {
					t.Fatalf("decrypted %+v", got)
				}
			}
		})
	}
}

func TestProvisionRefusals(t *testing.T) {
	site, _ := age.GenerateX25519Identity()
	tests := []struct {
		name, doc, reason string
	}{
		{"not json", `{`, ReasonMalformed},
		{"unknown field", `{"id":"a","extra":1}`, ReasonMalformed},
		{"bad id", `{"id":"../x"}`, ReasonMalformed},
		{"no id", `{}`, ReasonMalformed},
		{"bundle path", `{"id":"a","bundle":"../../etc/passwd"}`, ReasonMalformed},
		{"null config value", `{"id":"a","config":{"hub_url":null}}`, ReasonMalformed},
		{"secret in clear", `{"id":"a","snmp_auth_pass":"clear"}`, ReasonSecret},
		{"enroll code in clear", `{"id":"a","config":{"enroll_code":"CODE"}}`, ReasonSecret},
		{"garbage armor", `{"id":"a","proxy_password":"-----BEGIN AGE ENCRYPTED FILE-----\nxx\n-----END AGE ENCRYPTED FILE-----\n"}`, ReasonSecret},
		{"trailing data", `{"id":"a"} {}`, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProvision([]byte(tt.doc))
			if err == nil {
				err = DecryptSecrets(&p, []age.Identity{site})
			}
			if ReasonOf(err) != tt.reason {
				t.Fatalf("err = %v, want reason %q", err, tt.reason)
			}
		})
	}
	if err := EncryptSecrets(&Provision{ID: "a", SNMPAuthPass: "x"}, nil); err == nil {
		t.Fatal("a secret was left in clear without a recipient")
	}
}

func FuzzProvision(f *testing.F) {
	key, _ := GenerateKey("provisioning")
	site, _ := age.GenerateX25519Identity()
	doc := provisionDoc()
	_ = EncryptSecrets(&doc, []age.Recipient{site.Recipient()})
	body, _ := json.Marshal(doc)
	sig := SignProvision(key, body)
	f.Add(body, sig)
	f.Add([]byte(`{"id":"a","config":{"x":1}}`), []byte(`{"key":"00","sig":""}`))
	f.Fuzz(func(t *testing.T, body, sig []byte) {
		if _, err := VerifyProvision([]PublicKey{key.Public()}, body, sig); err == nil {
			// Ed25519 signatures are deterministic: any other accepted
			// one is a forgery.
			var s ProvisionSig
			if json.Unmarshal(sig, &s) != nil || !bytes.Equal(s.Sig, key.sign(purposeProvision, body)) {
				t.Fatalf("accepted a signature the key did not make")
			}
		}
		p, err := ParseProvision(body)
		if err != nil {
			return
		}
		if !provisionID.MatchString(p.ID) {
			t.Fatalf("took id %q", p.ID)
		}
		_ = DecryptSecrets(&p, []age.Identity{site})
	})
}
