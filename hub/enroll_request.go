package hub

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Bounds of an Enroll request.
const (
	minEnrollKey = 32
	maxEnrollKey = 512
	maxCSR       = 16 << 10
)

// enroll answers Enroll on a pending connection: with an organisation
// code, an identity at once; without, a claim code to show until an
// administrator claims the agent, then the identity.
func (p *pendingConn) enroll(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.EnrollRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	csr, err := checkEnroll(req)
	if err != nil {
		p.log.Info("enroll rejected", "reason", protocol.EnrollReasonInvalidRequest, "err", err)
		return rejectEnroll(protocol.EnrollReasonInvalidRequest), nil
	}
	var res protocol.EnrollResponse
	if req.Code != "" {
		res, err = p.enrollWithCode(ctx, req, csr)
	} else {
		res, err = p.enrollByClaim(ctx, req, csr)
	}
	if err != nil {
		return nil, err
	}
	p.log.Info("enroll", "agent", req.AgentID, "status", res.Status, "reason", res.Reason, "by_code", req.Code != "",
		"certificate", res.Certificate != "")
	return res, nil
}

// checkEnroll validates a request; its CSR, when it has one, parsed.
func checkEnroll(req protocol.EnrollRequest) (*x509.CertificateRequest, error) {
	switch {
	case !validAgentID(req.AgentID):
		return nil, errors.New("agent_id: not an agent id")
	case len(req.Key) < minEnrollKey || len(req.Key) > maxEnrollKey:
		return nil, fmt.Errorf("key: %d to %d characters", minEnrollKey, maxEnrollKey)
	case len(req.CSR) > maxCSR:
		return nil, fmt.Errorf("csr: more than %d bytes", maxCSR)
	case len(req.Version) > protocol.MaxWordLength:
		return nil, fmt.Errorf("version: more than %d bytes", protocol.MaxWordLength)
	}
	if err := req.Printer.Validate(); err != nil {
		return nil, err // the caps of a Boot's printer (protocol/limits.go)
	}
	if req.CSR == "" {
		return nil, nil
	}
	return parseCSR(req.CSR, req.AgentID)
}

func rejectEnroll(reason string) protocol.EnrollResponse {
	return protocol.EnrollResponse{Status: protocol.EnrollRejected, Reason: reason}
}

// identity is what an enrollment issues: a device token (kept as its
// hash) or a client certificate (kept as its fingerprint).
type identity struct {
	token, cert           string
	tokenHash, certSHA256 []byte
}

// newIdentity makes agentID's identity: a certificate signed by the hub's
// CA when it has one and the agent sent a CSR, else a device token.
func (s *Server) newIdentity(agentID string, csr *x509.CertificateRequest) (identity, error) {
	if s.cfg.CA != nil && csr != nil {
		cert, fp, err := s.cfg.CA.sign(csr, agentID, s.now())
		return identity{cert: cert, certSHA256: fp}, err
	}
	tok, err := randomToken()
	if err != nil {
		return identity{}, fmt.Errorf("device token: %w", err)
	}
	return identity{token: tok, tokenHash: tokenHash(tok)}, nil
}

// nullBlob is b, or SQL NULL when empty (the driver would store an empty
// blob, which UNIQUE columns would then collide on).
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// bindIdentity writes id into the agents row of req.AgentID in tx, with
// its name and group (an empty name keeps the row's), unless the id has an
// identity already: ok false. The row waits for its first Boot with it
// (needs-credentials).
func (s *Server) bindIdentity(ctx context.Context, tx *store.Tx, req protocol.EnrollRequest, id identity, name, group string) (bool, error) {
	printer, _ := json.Marshal(req.Printer)
	res, err := tx.ExecContext(ctx,
		`INSERT INTO agents (id, token_hash, cert_sha256, version, printer, name, grp, awaiting_boot, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
		 ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, cert_sha256 = excluded.cert_sha256,
		   version = excluded.version, printer = excluded.printer,
		   name = CASE WHEN excluded.name != '' THEN excluded.name ELSE agents.name END,
		   grp = CASE WHEN excluded.grp != '' THEN excluded.grp ELSE agents.grp END, awaiting_boot = 1
		 WHERE agents.token_hash IS NULL AND agents.cert_sha256 IS NULL AND agents.unregistered_at IS NULL`,
		req.AgentID, nullBlob(id.tokenHash), nullBlob(id.certSHA256), req.Version, string(printer), name, group, nanos(s.now()))
	if err != nil {
		return false, fmt.Errorf("bind the identity of %s: %w", req.AgentID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("bind the identity of %s: %w", req.AgentID, err)
	}
	return n == 1, nil
}

// enrolled is the answer carrying an identity.
func enrolled(id identity, name, group string) protocol.EnrollResponse {
	return protocol.EnrollResponse{Status: protocol.EnrollEnrolled, DeviceToken: id.token, Certificate: id.cert,
		Name: name, Group: group}
}

// enrollWithCode enrolls with an organisation code under the throttle of
// the remote host: each attempt counts before it is checked (concurrent
// guesses cannot slip under the limit) and is taken back unless the code
// was wrong.
func (p *pendingConn) enrollWithCode(ctx context.Context, req protocol.EnrollRequest, csr *x509.CertificateRequest) (protocol.EnrollResponse, error) {
	t := p.s.enroll.failures
	now := p.s.now()
	err := t.begin(ctx, p.host)
	if locked := (*lockedError)(nil); errors.As(err, &locked) {
		p.log.Warn("enroll refused: too many wrong codes from this host", "until", locked.until)
		return protocol.EnrollResponse{}, &protocol.Error{Code: protocol.CodeInternalError,
			Description: fmt.Sprintf("too many wrong enrollment codes from this address; retry in %d s", retryAfter(locked.until.Sub(now)))}
	}
	if err != nil {
		return protocol.EnrollResponse{}, err
	}
	res, err := p.s.enrollCode(ctx, req, csr)
	if err == nil && res.Reason != protocol.EnrollReasonInvalidCode {
		err = t.forgive(ctx, p.host)
	}
	return res, err
}

// enrollCode takes a use of the code and binds the agent's identity, in
// one transaction: an id that has an identity uses nothing.
func (s *Server) enrollCode(ctx context.Context, req protocol.EnrollRequest, csr *x509.CertificateRequest) (protocol.EnrollResponse, error) {
	id, err := s.newIdentity(req.AgentID, csr)
	if err != nil {
		return protocol.EnrollResponse{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll %s: %w", req.AgentID, err)
	}
	defer tx.Rollback()
	codeID, group, ok, err := s.useEnrollmentCode(ctx, tx, req.Code)
	if err != nil || !ok {
		return rejectEnroll(protocol.EnrollReasonInvalidCode), err
	}
	bound, err := s.bindIdentity(ctx, tx, req, id, "", group)
	if err != nil || !bound {
		return rejectEnroll(protocol.EnrollReasonAgentExists), err
	}
	if err := tx.Commit(); err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll %s: %w", req.AgentID, err)
	}
	s.log.Info("agent enrolled with an organisation code", "agent", req.AgentID, "code", codeID, "group", group)
	return enrolled(id, "", group), nil
}

// enrollClaim is a row of enrollment_claims.
type enrollClaim struct {
	code, agentID, name, group string
	expires                    time.Time
	claimed                    bool
}

func readEnrollClaim(ctx context.Context, tx *store.Tx, keyHash []byte) (enrollClaim, bool, error) {
	var c enrollClaim
	var expires int64
	var claimedAt sql.NullInt64
	err := tx.QueryRowContext(ctx,
		"SELECT code, agent_id, name, grp, expires_at, claimed_at FROM enrollment_claims WHERE key_hash = ?",
		keyHash).Scan(&c.code, &c.agentID, &c.name, &c.group, &expires, &claimedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read claim: %w", err)
	}
	c.expires, c.claimed = fromNanos(expires), claimedAt.Valid
	return c, true, nil
}

// enrollByClaim answers an Enroll without code: the identity once an
// administrator claimed this agent's key, else its claim code (the same
// one while it lasts, a new one after).
func (p *pendingConn) enrollByClaim(ctx context.Context, req protocol.EnrollRequest, csr *x509.CertificateRequest) (protocol.EnrollResponse, error) {
	s := p.s
	keyHash := tokenHash(req.Key)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll %s: %w", req.AgentID, err)
	}
	defer tx.Rollback()
	c, found, err := readEnrollClaim(ctx, tx, keyHash)
	if err != nil {
		return protocol.EnrollResponse{}, err
	}
	live := found && s.now().Before(c.expires)
	switch {
	case found && c.agentID != req.AgentID:
		// The key is another agent id's: nothing to give this one.
		return rejectEnroll(protocol.EnrollReasonInvalidRequest), nil
	case live && c.claimed:
		return s.collect(ctx, tx, req, csr, c)
	case live:
		p.setClaimant(req.AgentID, keyHash)
		return pendingEnroll(c), nil
	}
	if ok, wait := s.enroll.claims.take(p.host, s.cfg.Clock.Now()); !ok {
		p.log.Warn("enroll refused: too many new claims from this host")
		return protocol.EnrollResponse{}, &protocol.Error{Code: protocol.CodeInternalError,
			Description: fmt.Sprintf("too many new claims from this address; retry in %d s", retryAfter(wait))}
	}
	c, res, err := s.newClaim(ctx, tx, req, keyHash, p.host)
	if err != nil || res.Status == protocol.EnrollRejected {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("claim of %s: %w", req.AgentID, err)
	}
	p.setClaimant(req.AgentID, keyHash)
	p.log.Info("claim code issued", "agent", req.AgentID, "expires_at", c.expires)
	return pendingEnroll(c), nil
}

func pendingEnroll(c enrollClaim) protocol.EnrollResponse {
	exp := c.expires.UTC()
	return protocol.EnrollResponse{Status: protocol.EnrollPending, ClaimCode: groupCode(c.code, claimCodeLen/2), ExpiresAt: &exp}
}

// collect issues the identity of a claimed agent and forgets its claim.
func (s *Server) collect(ctx context.Context, tx *store.Tx, req protocol.EnrollRequest, csr *x509.CertificateRequest, c enrollClaim) (protocol.EnrollResponse, error) {
	id, err := s.newIdentity(req.AgentID, csr)
	if err != nil {
		return protocol.EnrollResponse{}, err
	}
	bound, err := s.bindIdentity(ctx, tx, req, id, c.name, c.group)
	if err != nil || !bound {
		return rejectEnroll(protocol.EnrollReasonAgentExists), err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM enrollment_claims WHERE code = ?", c.code); err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("collect the claim of %s: %w", req.AgentID, err)
	}
	if err := tx.Commit(); err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("collect the claim of %s: %w", req.AgentID, err)
	}
	s.log.Info("claimed agent collected its identity", "agent", req.AgentID, "name", c.name, "group", c.group)
	return enrolled(id, c.name, c.group), nil
}

// newClaim replaces an expired claim of the key, if any, with a new one,
// unless the agent id has an identity already.
func (s *Server) newClaim(ctx context.Context, tx *store.Tx, req protocol.EnrollRequest, keyHash []byte, host string) (enrollClaim, protocol.EnrollResponse, error) {
	if _, err := tx.ExecContext(ctx, "DELETE FROM enrollment_claims WHERE key_hash = ?", keyHash); err != nil {
		return enrollClaim{}, protocol.EnrollResponse{}, fmt.Errorf("claim of %s: %w", req.AgentID, err)
	}
	var has bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM agents WHERE id = ?
		AND (token_hash IS NOT NULL OR cert_sha256 IS NOT NULL OR unregistered_at IS NOT NULL))`, req.AgentID).Scan(&has)
	if err != nil || has {
		return enrollClaim{}, rejectEnroll(protocol.EnrollReasonAgentExists), err
	}
	now := s.now()
	c := enrollClaim{agentID: req.AgentID, expires: now.Add(claimExpiry)}
	for range 5 { // 40 bits: a collision is rare, five in a row never
		if c.code, err = randomCode(claimCodeLen); err != nil {
			return c, protocol.EnrollResponse{}, err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO enrollment_claims (code, agent_id, key_hash, remote, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.code, req.AgentID, keyHash, host, nanos(now), nanos(c.expires))
		if !isUnique(err) {
			break
		}
	}
	if err != nil {
		return c, protocol.EnrollResponse{}, fmt.Errorf("claim of %s: %w", req.AgentID, err)
	}
	return c, protocol.EnrollResponse{Status: protocol.EnrollPending}, nil
}
