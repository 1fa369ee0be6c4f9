package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tessera-sign:", err)
		os.Exit(2)
	}
}

const usage = `usage: tessera-sign <command> [flags]

commands:
  keygen    --name NAME --out DIR                  a key pair: DIR/NAME.key (0600) and DIR/NAME.pub
  sign-key  --root ROOT.key --key NAME.pub --out NAME.cert
                                                   certify a signing key with a root
  revoke    --root ROOT.key --serial N [--key-id ID]... --out FILE
                                                   a revocation list signed by a root
  bundle    --key SIGNING.key --cert SIGNING.cert --version V --binary FILE --arch ARCH
            [--os linux] [--min-version V] [--expires RFC3339] [--notes TEXT]
            [--revocations FILE [--roots DIR]] --out BUNDLE.tar
                                                   an agent update bundle (carrying a revocation list)
  verify    --roots DIR [--revocations FILE] [--running V] [--os OS --arch ARCH] BUNDLE.tar
                                                   check a bundle as an agent would
  provision --key FILE.key [--recipient AGE-PUBLIC-KEY]... --in provision.json --out STICK
                                                   a provisioning stick: STICK/tessera/provision.json
                                                   (secrets encrypted to the recipients) and provision.sig
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	commands := map[string]func([]string, io.Writer, io.Writer) error{
		"keygen": keygen, "sign-key": signKey, "revoke": revoke, "bundle": bundle, "verify": verifyBundle,
		"provision": provision,
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd(args[1:], stdout, stderr)
}

// flags is a command's flag set, its errors to stderr.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tessera-sign "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// required names the first flag left empty.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			return fmt.Errorf("%s: --%s is required", fs.Name(), n)
		}
	}
	return nil
}

// writeNew writes a file that must not exist yet: a key or a certificate
// written over another is a mistake no one can undo.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
