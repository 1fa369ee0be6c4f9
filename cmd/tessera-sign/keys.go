package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tessera-print/tessera/firmware"
)

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flags("keygen", stderr)
	name := fs.String("name", "", "the key's name (file names and certificates show it)")
	out := fs.String("out", "", "the directory to write NAME.key and NAME.pub into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "name", "out"); err != nil {
		return err
	}
	k, err := firmware.GenerateKey(*name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(*out, *name+".key"), firmware.MarshalPrivateKey(k), 0o600); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(*out, *name+".pub"), firmware.MarshalPublicKey(k.Public()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", k.Public().ID(), *name)
	return nil
}

func readPrivate(path string) (*firmware.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := firmware.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func signKey(args []string, stdout, stderr io.Writer) error {
	fs := flags("sign-key", stderr)
	rootFile := fs.String("root", "", "the root's private key")
	keyFile := fs.String("key", "", "the signing key's public half (NAME.pub)")
	out := fs.String("out", "", "the certificate to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "root", "key", "out"); err != nil {
		return err
	}
	root, err := readPrivate(*rootFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	keys, err := firmware.ParsePublicKeys(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	if len(keys) != 1 {
		return fmt.Errorf("%s: %d keys, want one", *keyFile, len(keys))
	}
	if err := writeNew(*out, firmware.MarshalCert(firmware.SignKey(root, keys[0])), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s certified by %s %s\n", keys[0].ID(), keys[0].Name, root.Public().ID(), root.Name)
	return nil
}

// repeated is a flag given any number of times.
type repeated []string

func (r *repeated) String() string     { return fmt.Sprint(*r) }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func revoke(args []string, stdout, stderr io.Writer) error {
	fs := flags("revoke", stderr)
	rootFile := fs.String("root", "", "the root's private key")
	serial := fs.String("serial", "", "the list's serial: above every list published before")
	out := fs.String("out", "", "the revocation list to write")
	var ids repeated
	fs.Var(&ids, "key-id", "a key ID to revoke (16 hex digits; again for more; none: a list that revokes nothing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "root", "serial", "out"); err != nil {
		return err
	}
	n, err := strconv.ParseUint(*serial, 10, 64)
	if err != nil || n == 0 {
		return fmt.Errorf("revoke: --serial %q: want a number above 0", *serial)
	}
	root, err := readPrivate(*rootFile)
	if err != nil {
		return err
	}
	data, err := firmware.SignRevocations(root, firmware.Revocations{Serial: n, Revoked: ids})
	if err != nil {
		return err
	}
	// Checked as an agent reads it: a mistyped ID fails here, not there.
	if _, err := firmware.ParseRevocations(data, []firmware.PublicKey{root.Public()}, 0); err != nil {
		return err
	}
	return writeNew(*out, data, 0o644)
}
