package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/firmware/media"
	"github.com/tessera-print/tessera/internal/atomicfile"
)

// recipients collects --recipient flags.
type recipients []age.Recipient

func (r *recipients) String() string { return "" }
func (r *recipients) Set(v string) error {
	rc, err := age.ParseX25519Recipient(v)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", v, err)
	}
	*r = append(*r, rc)
	return nil
}

var _ flag.Value = (*recipients)(nil)

// provision writes a provisioning stick: its secrets encrypted to the
// recipients, the document signed with a provisioning key.
func provision(args []string, stdout, stderr io.Writer) error {
	fs := flags("provision", stderr)
	keyFile := fs.String("key", "", "the provisioning key (a *.pub of it in the agents' trust_dir)")
	in := fs.String("in", "", "the provisioning document, secrets in clear")
	out := fs.String("out", "", "the stick's directory (tessera/ is written in it)")
	var rcpt recipients
	fs.Var(&rcpt, "recipient", "an age public key to encrypt the secrets to (the site key, or `tessera identity` of one agent); repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "key", "in", "out"); err != nil {
		return err
	}
	key, err := readPrivate(*keyFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	p, err := firmware.ParseProvision(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if err := firmware.EncryptSecrets(&p, rcpt); err != nil {
		return fmt.Errorf("%s: %w (give --recipient)", *in, err)
	}
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	dir := filepath.Join(*out, media.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The document first: an agent reads the pair only once both have
	// settled, and a signature left from an earlier stick does not
	// verify the new document.
	if err := atomicfile.Write(filepath.Join(dir, media.ProvisionFile), body); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, media.SignatureFile), firmware.SignProvision(key, body)); err != nil {
		return err
	}
	// Readable by the agent's user, whoever wrote the stick (an ext4
	// stick keeps modes): the secrets in it are encrypted.
	for _, name := range []string{media.ProvisionFile, media.SignatureFile} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			return err
		}
	}
	if p.Bundle != "" {
		if _, err := os.Stat(filepath.Join(dir, p.Bundle)); err != nil {
			fmt.Fprintf(stderr, "tessera-sign: warning: the bundle %s is not on the stick yet: copy it to %s\n", p.Bundle, dir)
		}
	}
	fmt.Fprintf(stdout, "%s signed by %s (%s), %d recipient(s)\n", filepath.Join(dir, media.ProvisionFile), key.Public().ID(), key.Name, len(rcpt))
	return nil
}
