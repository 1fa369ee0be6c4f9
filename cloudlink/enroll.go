package cloudlink

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// Enrollment (docs/protocol.md "Enrollment"): an agent with neither a
// device token nor a client certificate connects without credentials. A
// hub with open enrollment accepts its Boot (and hands out a token, as
// before); any other answers it with the rejection reasonEnrollmentRequired,
// and the connection stays open for Enroll alone. The link then Enrolls on
// that same connection: with an organisation code it is enrolled at once;
// without one (or with one the hub refuses) it gets a claim code to show
// until an administrator claims it.

// reasonEnrollmentRequired is the Boot rejection of a connection without
// identity on a hub without open enrollment: Enroll, on this connection.
const reasonEnrollmentRequired = protocol.BootReasonEnrollmentRequired

// minReenroll is the shortest wait between two Enrolls of a pending
// connection, whatever the hub's expiry says: a hub whose claim codes
// seem already expired (a clock far off) is not hammered.
const minReenroll = time.Second

// errEnrolled ends a pending connection whose Enroll returned an identity:
// the link connects again at once, with it.
var errEnrolled = errors.New("enrolled: connecting again with the new identity")

// Identity is what the hub hands an agent at enrollment: a device token,
// or a certificate for the agent's own key (PEM, leaf first).
type Identity struct {
	DeviceToken string
	Certificate string
	// Name and Group are what the administrator or the organisation code
	// gave the agent; informative.
	Name, Group string
}

// bootRejection is a Boot the hub answered with a rejection.
type bootRejection struct{ resp protocol.BootResponse }

func (e *bootRejection) Error() string {
	return fmt.Sprintf("boot %s: %s", e.resp.Status, e.resp.Reason)
}

// rejectBoot logs a Boot rejection as what it means to the operator and
// returns it as an error.
func (l *Link) rejectBoot(resp protocol.BootResponse) error {
	if l.cfg.OnBootRejected != nil {
		l.cfg.OnBootRejected(resp.Reason)
	}
	switch {
	case resp.Reason == reasonEnrollmentRequired && l.canEnroll():
		l.logger.Info("this agent is not enrolled at the hub: enrolling")
	case resp.Reason == reasonEnrollmentRequired && l.enrolledNow():
		// Only a certificate can go unseen: a token is refused outright.
		l.logger.Error("the hub took this connection for one without identity: it did not verify the client certificate (a hub without the CA that signed it?)")
	case resp.Reason == reasonEnrollmentRequired:
		l.logger.Error("the hub accepts only enrolled agents and this one has no identity nor enrollment key")
	case resp.Reason == protocol.BootReasonCloneDetected:
		// Both hold the same identity: a copied SD card, or a second
		// agent started on the same data directory.
		l.logger.Error("another agent is connected with this identity: the hub refused this one as a clone; retrying",
			"reason", resp.Reason)
	case protocol.IsVersionUnsupported(resp.Reason):
		l.logger.Error("the hub refuses this agent's version: the agent needs an update; retrying",
			"version", l.cfg.Version, "reason", resp.Reason)
	default:
		l.logger.Error("hub rejected boot", "status", resp.Status, "reason", resp.Reason)
	}
	return &bootRejection{resp: resp}
}

// enrolledNow reports whether the link has an identity to present.
func (l *Link) enrolledNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token != "" || l.cert != nil
}

// canEnroll reports whether the link should Enroll when the hub asks: it
// has an enrollment key and no identity yet.
func (l *Link) canEnroll() bool {
	return l.cfg.EnrollKey != "" && !l.enrolledNow()
}

// onEnrollmentClaimed answers the hub's EnrollmentClaimed: the pending
// loop Enrolls again at once.
func (l *Link) onEnrollmentClaimed(context.Context, json.RawMessage) (any, error) {
	select {
	case l.claimed <- struct{}{}:
	default:
	}
	return struct{}{}, nil
}

// enroll runs a pending connection: Enroll until the hub hands out an
// identity (errEnrolled), refuses, or the connection ends. rejected is
// the Boot answer that asked for it (its server time and interval).
func (l *Link) enroll(ctx context.Context, peer *protocol.Peer, rejected protocol.BootResponse) error {
	var skew time.Duration
	if !rejected.ServerTime.IsZero() {
		skew = rejected.ServerTime.Sub(l.now())
	}
	// Re-Enrolling within the heartbeat interval also keeps the pending
	// connection from looking idle to the hub.
	interval := time.Duration(rejected.HeartbeatInterval) * time.Second
	if interval <= 0 {
		interval = defaultHeartbeat
	}
	select { // a claim of an earlier connection is stale
	case <-l.claimed:
	default:
	}
	for {
		resp, err := l.sendEnroll(ctx, peer)
		if err != nil {
			return err
		}
		switch resp.Status {
		case protocol.EnrollEnrolled:
			return l.adoptIdentity(resp)
		case protocol.EnrollRejected:
			if resp.Reason == protocol.EnrollReasonInvalidCode && l.enrollCode() != "" {
				// The code itself is a secret: never logged.
				l.logger.Error("the hub refused the organisation enrollment code; falling back to a claim code on the panel",
					"reason", resp.Reason)
				l.dropEnrollCode()
				continue
			}
			l.logger.Error("the hub refused enrollment", "reason", resp.Reason)
			return fmt.Errorf("enroll rejected: %s", resp.Reason)
		case protocol.EnrollPending:
			if resp.ClaimCode == "" {
				return errors.New("enroll: pending without a claim code")
			}
			l.showClaimCode(resp.ClaimCode)
		default:
			return fmt.Errorf("enroll: unknown status %q", resp.Status)
		}
		if err := l.waitClaim(ctx, peer, reenrollDelay(resp.ExpiresAt, l.now().Add(skew), interval)); err != nil {
			return err
		}
	}
}

// sendEnroll makes one Enroll call.
func (l *Link) sendEnroll(ctx context.Context, peer *protocol.Peer) (protocol.EnrollResponse, error) {
	req := protocol.EnrollRequest{
		AgentID: l.cfg.AgentID,
		Key:     l.cfg.EnrollKey,
		Code:    l.enrollCode(),
		CSR:     l.cfg.CSR,
		Version: l.cfg.Version,
	}
	if l.cfg.Printer != nil {
		req.Printer = l.cfg.Printer()
	}
	var resp protocol.EnrollResponse
	err := l.callPeer(ctx, peer, protocol.ActionEnroll, req, &resp)
	return resp, err
}

// reenrollDelay is how long a pending agent waits before it Enrolls
// again: half the claim code's remaining life, at most interval, at least
// minReenroll. hubNow is the hub's time as the agent estimates it.
func reenrollDelay(expires *time.Time, hubNow time.Time, interval time.Duration) time.Duration {
	d := interval
	if expires != nil {
		d = min(d, expires.Sub(hubNow)/2)
	}
	return max(d, minReenroll)
}

// waitClaim waits for the hub's EnrollmentClaimed or for d, on a timer
// re-armed each round (a test's clock moved far ahead fires it once).
func (l *Link) waitClaim(ctx context.Context, peer *protocol.Peer, d time.Duration) error {
	t, fired := l.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-peer.Done():
		return errors.New("connection lost while pending enrollment")
	case <-l.claimed:
		l.logger.Info("an administrator claimed this agent: collecting its identity")
	case <-fired:
	}
	return nil
}

// adoptIdentity keeps (OnIdentity) and then uses the identity of an
// Enroll answered enrolled, and ends the pending connection.
func (l *Link) adoptIdentity(resp protocol.EnrollResponse) error {
	id := Identity{DeviceToken: resp.DeviceToken, Certificate: resp.Certificate, Name: resp.Name, Group: resp.Group}
	if strings.ContainsAny(id.DeviceToken, "\r\n") {
		return errors.New("enroll: the hub handed out a device token that cannot be used")
	}
	var cert *tls.Certificate
	if id.Certificate != "" {
		c, err := clientCertificate(id.Certificate, l.cfg.ClientKey)
		if err != nil {
			return fmt.Errorf("enroll: the hub's certificate: %w", err)
		}
		cert = c
	}
	if cert == nil && id.DeviceToken == "" {
		return errors.New("enroll: the hub answered enrolled without an identity")
	}
	if l.cfg.OnIdentity != nil {
		if err := l.cfg.OnIdentity(id); err != nil {
			// The hub has bound the id: this run uses the identity all the
			// same; the next start cannot, as with a Boot's token.
			l.logger.Error("cannot keep the identity the hub handed out: the next start cannot connect until an administrator issues a new one",
				"err", err)
		}
	}
	l.mu.Lock()
	if id.DeviceToken != "" {
		l.token = id.DeviceToken
	}
	if cert != nil {
		l.cert = cert
	}
	l.mu.Unlock()
	l.showClaimCode("")
	l.logger.Info("enrolled at the hub", "name", id.Name, "group", id.Group, "certificate", cert != nil)
	return errEnrolled
}

// clientCertificate pairs a PEM chain (leaf first) with the key it was
// issued for.
func clientCertificate(chain string, key crypto.Signer) (*tls.Certificate, error) {
	if key == nil {
		return nil, errors.New("no private key to use it with")
	}
	var cert tls.Certificate
	rest := []byte(chain)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("it is not for this agent's key")
	}
	cert.PrivateKey, cert.Leaf = key, leaf
	return &cert, nil
}

// getClientCertificate gives the TLS handshake the link's current client
// certificate (an empty one: none), so a certificate enrollment handed
// out is used from the next connection on.
func (l *Link) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cert == nil {
		return &tls.Certificate{}, nil
	}
	return l.cert, nil
}

// useClientCertificate makes the link's TLS configs present its current
// certificate, starting from the config's own (if any). A config with its
// own GetClientCertificate keeps it.
func (l *Link) useClientCertificate(cfgs ...*tls.Config) {
	for _, c := range cfgs {
		if c.GetClientCertificate != nil {
			return
		}
	}
	if len(cfgs) > 0 && len(cfgs[0].Certificates) > 0 {
		l.cert = &cfgs[0].Certificates[0]
	}
	for _, c := range cfgs {
		c.GetClientCertificate = l.getClientCertificate
	}
}

// HasClientCertificate reports whether the link presents a client
// certificate (from its config or from enrollment).
func (l *Link) HasClientCertificate() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cert != nil
}

func (l *Link) enrollCode() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.code
}

// dropEnrollCode forgets a code the hub refused, for this run.
func (l *Link) dropEnrollCode() {
	l.mu.Lock()
	l.code = ""
	l.mu.Unlock()
}

// showClaimCode passes the claim code to show ("" for none) on, when it
// changed.
func (l *Link) showClaimCode(code string) {
	l.mu.Lock()
	changed := l.claimCode != code
	l.claimCode = code
	l.mu.Unlock()
	if changed && l.cfg.OnClaimCode != nil {
		l.cfg.OnClaimCode(code)
	}
}

// ClaimCode is the claim code of a pending enrollment ("" for none).
func (l *Link) ClaimCode() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.claimCode
}
