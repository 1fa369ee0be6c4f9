package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"time"

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

// addEnrollFlags registers serve's flags of enrollment's limits on c.
func addEnrollFlags(fs *flag.FlagSet, c *hub.Config) {
	fs.IntVar(&c.MaxPending, "max-pending", hub.DefaultMaxPending, "most connections without identity (pending enrollment) held at once")
	fs.IntVar(&c.EnrollFailures, "enroll-failures", hub.DefaultEnrollFailures, "wrong organisation codes from one address that refuse its codes for --enroll-window")
	fs.DurationVar(&c.EnrollWindow, "enroll-window", hub.DefaultEnrollWindow, "how long wrong organisation codes count, and how long a refusal lasts")
}

// checkEnrollFlags refuses enrollment limits the hub cannot run with.
func checkEnrollFlags(c hub.Config) error {
	switch {
	case c.MaxPending < 1:
		return errors.New("serve: --max-pending must be at least 1")
	case c.EnrollFailures < 1:
		return errors.New("serve: --enroll-failures must be at least 1")
	case c.EnrollWindow < time.Second:
		return errors.New("serve: --enroll-window must be at least 1s")
	}
	return nil
}
