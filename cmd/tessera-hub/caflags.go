package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"

	"github.com/tessera-print/tessera/hub"
)

// caFlags are serve's --ca-cert and --ca-key: the hub's CA, which signs
// the client certificates of agents enrolling with a CSR and, when the
// hub serves TLS itself, verifies them on the listener.
type caFlags struct {
	certFile, keyFile string
	ca                *hub.CA // loaded by load
}

func (c *caFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.certFile, "ca-cert", "", "CA certificate (PEM) that signs agents' client certificates at enrollment; needs --ca-key")
	fs.StringVar(&c.keyFile, "ca-key", "", "private key file (PEM) of --ca-cert")
}

// load checks the pair and loads the CA. tls says the hub serves TLS
// itself: without, no client certificate ever reaches it, and the
// certificates it signed would be identities it cannot see.
func (c *caFlags) load(tls bool) error {
	switch {
	case (c.certFile == "") != (c.keyFile == ""):
		return errors.New("serve: --ca-cert and --ca-key go together")
	case c.certFile != "" && !tls:
		return errors.New("serve: --ca-cert needs --tls-cert and --tls-key: client certificates reach the hub only when it serves TLS itself (a proxy in front must pass TCP through)")
	}
	if c.certFile == "" {
		return nil
	}
	ca, err := hub.LoadCA(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("serve: --ca-cert/--ca-key: %w", err)
	}
	c.ca = ca
	return nil
}

// askClientCerts makes a TLS listener ask for a client certificate and
// verify one given against the CA; one not given is no failure (browsers,
// the admin API, agents with device tokens, pending agents).
func (c *caFlags) askClientCerts(cfg *tls.Config) {
	if c.ca == nil {
		return
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	cfg.ClientCAs = c.ca.Pool()
}
