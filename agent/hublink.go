package agent

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// hubProxy is the link's choice of proxy: the configured one (config
// proxy, its password from proxy_password_file) for every connection to
// the hub, else the environment's HTTPS_PROXY and NO_PROXY (nil).
func hubProxy(raw, password string) (func(*http.Request) (*url.URL, error), error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if password != "" {
		if u.User == nil || u.User.Username() == "" {
			return nil, errors.New("proxy_password_file needs a user name in proxy (http://USER@HOST:PORT)")
		}
		u.User = url.UserPassword(u.User.Username(), password)
	}
	return http.ProxyURL(u), nil
}

// pinHub makes tc accept the hub only if one certificate of its verified
// chain has a public key whose SHA-256 is pinned (config
// hub_cert_sha256), after the usual verification: a pin narrows what the
// roots accept, never widens it. No pins: tc unchanged.
func pinHub(tc *tls.Config, pins []string) *tls.Config {
	if len(pins) == 0 {
		return tc
	}
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tc = tc.Clone()
	}
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		for _, chain := range cs.VerifiedChains {
			for _, c := range chain {
				sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
				if slices.Contains(pins, hex.EncodeToString(sum[:])) {
					return nil
				}
			}
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the hub sent no certificate")
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
		return fmt.Errorf("the hub's certificate (public key SHA-256 %s) matches no hub_cert_sha256", hex.EncodeToString(sum[:]))
	}
	return tc
}
