package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Claims of jobs held outside the hub (ClaimJob, ReleaseClaim): a CUPS
// queue shared by several agents lists the same job at each, and the claim
// makes it print at one. One agent holds a key at a time; the claim of an
// agent silent for printingClaimLapse (not connected) can be taken by
// another, as a hub job's can; a done claim (the job printed) is kept for
// good, so no agent prints it again. An uncertain job's claim is not
// released: it stays its agent's, as an uncertain hub job does, so its
// owner can confirm a reprint there and no other printer prints it.
const (
	// maxClaimKey bounds a claim key, in bytes: a queue URI, a job id and a
	// time fit many times over.
	maxClaimKey = 512
	// claimRetention is how long a claim is kept after its last change;
	// keys carry the job's creation time, so they do not come back.
	claimRetention = 30 * 24 * time.Hour
)

func validClaimKey(k string) bool {
	if k == "" || len(k) > maxClaimKey || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

func errClaimed(done bool) *protocol.Error {
	desc := "the job is claimed by another agent"
	if done {
		desc = "the job was printed by an agent"
	}
	return &protocol.Error{Code: protocol.CodeGenericError, Description: desc,
		Details: map[string]any{"code": protocol.DetailClaimed, "done": done}}
}

// claimRow is a claims row.
type claimRow struct {
	agentID, claimID string
	done             bool
}

func readClaim(ctx context.Context, tx *store.Tx, key string) (claimRow, bool, error) {
	var r claimRow
	err := tx.QueryRowContext(ctx, "SELECT agent_id, claim_id, done FROM claims WHERE key = ?", key).Scan(
		&r.agentID, &r.claimID, &r.done)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (c *agentConn) claimJob(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.ClaimJobRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	if !validClaimKey(req.Key) {
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation,
			Description: fmt.Sprintf("key: 1 to %d bytes of UTF-8 without control characters", maxClaimKey)}
	}
	newID, err := randomID()
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	agentID := c.id()
	now := c.s.now()
	var claimID string
	var refused *protocol.Error
	// The holder's connected and last_seen are read below (presence.go).
	if err := c.s.flushPresence(ctx); err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	// The transaction takes the write lock at once (_txlock=immediate), so
	// reading the claim and writing it cannot interleave with another agent's.
	err = c.s.inTx(ctx, func(tx *store.Tx) error {
		cur, ok, err := readClaim(ctx, tx, req.Key)
		switch {
		case err != nil:
			return err
		case ok && cur.done:
			refused = errClaimed(true)
			return nil
		case ok && cur.agentID == agentID:
			claimID = cur.claimID
			_, err := tx.ExecContext(ctx, "UPDATE claims SET updated_at = ? WHERE key = ?", nanos(now), req.Key)
			return err
		case ok:
			var holding bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM agents WHERE id = ? AND (connected = 1 OR last_seen >= ?))",
				cur.agentID, nanos(now.Add(-printingClaimLapse))).Scan(&holding); err != nil {
				return err
			}
			if holding || !c.s.absent.lapsed(cur.agentID, printingClaimLapse) {
				refused = errClaimed(false)
				return nil
			}
		}
		claimID = newID
		_, err = tx.ExecContext(ctx, `INSERT INTO claims (key, agent_id, claim_id, done, claimed_at, updated_at)
			VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (key) DO UPDATE SET agent_id = excluded.agent_id,
			  claim_id = excluded.claim_id, done = 0, claimed_at = excluded.claimed_at, updated_at = excluded.updated_at`,
			req.Key, agentID, newID, nanos(now), nanos(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	if refused != nil {
		c.logger().Info("job claim refused", "key", req.Key, "done", refused.Details["done"])
		return nil, refused
	}
	c.logger().Info("job claimed", "key", req.Key, "claim", claimID)
	return protocol.ClaimJobResponse{ClaimID: claimID}, nil
}

func (c *agentConn) releaseClaim(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.ReleaseClaimRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	if !validClaimKey(req.Key) || req.ClaimID == "" {
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation,
			Description: fmt.Sprintf("key (1 to %d bytes) and claim_id required", maxClaimKey)}
	}
	agentID := c.id()
	now := c.s.now()
	stale := false
	err := c.s.inTx(ctx, func(tx *store.Tx) error {
		cur, ok, err := readClaim(ctx, tx, req.Key)
		switch {
		case err != nil:
			return err
		case !ok:
			// Freeing what nobody holds is done already (a resend); a done
			// of a claim that is gone cannot be recorded as this agent's.
			stale = req.Done
			return nil
		case cur.claimID != req.ClaimID || cur.agentID != agentID:
			stale = true
			return nil
		case cur.done:
			return nil // printed stays printed
		case req.Done:
			_, err = tx.ExecContext(ctx, "UPDATE claims SET done = 1, updated_at = ? WHERE key = ?", nanos(now), req.Key)
		default:
			_, err = tx.ExecContext(ctx, "DELETE FROM claims WHERE key = ?", req.Key)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("release claim: %w", err)
	}
	if stale {
		return c.refuseRelease(ctx, req)
	}
	c.logger().Info("job claim released", "key", req.Key, "claim", req.ClaimID, "done", req.Done)
	return protocol.ReleaseClaimResponse{}, nil
}

// refuseRelease refuses a release of a claim that is not current; a done
// one says a job printed that another agent may now print: status-dropped.
func (c *agentConn) refuseRelease(ctx context.Context, req protocol.ReleaseClaimRequest) (any, error) {
	if !req.Done {
		c.logger().Info("job claim release refused: not the current claim", "key", req.Key, "claim", req.ClaimID)
		return nil, errStaleClaim()
	}
	agentID := c.id()
	c.logger().Warn("job claim done dropped: not the current claim", "key", req.Key, "claim", req.ClaimID)
	err := c.s.raiseAlert(ctx, c.s.db, alert{code: alertStatusDropped, agentID: agentID,
		message: fmt.Sprintf("agent %s reported job %s printed under a claim that is no longer current "+
			"(it lapsed, and another agent may print the job again)", agentID, req.Key),
		data: map[string]any{"key": req.Key, "claim_id": req.ClaimID, "done": true, "refusal": protocol.DetailStaleClaim},
		once: agentID + " " + req.Key + " " + req.ClaimID + " done"})
	if err != nil {
		return nil, fmt.Errorf("release claim: %w", err)
	}
	return nil, errStaleClaim()
}

// purgeClaims drops claims unchanged for claimRetention: done ones, and
// ones whose agent has lapsed (another agent could take them anyway). A
// claim its agent keeps while heard from (an uncertain job's) stays:
// dropping it would let another printer print the job.
func (s *Server) purgeClaims(ctx context.Context) error {
	if err := s.flushPresence(ctx); err != nil { // lapsedSQL reads connected and last_seen
		return fmt.Errorf("purge claims: %w", err)
	}
	lapsed, lapsedArgs := s.lapsedSQL("agent_id")
	_, err := s.db.ExecContext(ctx, "DELETE FROM claims WHERE updated_at < ? AND (done = 1 OR "+lapsed+")",
		append([]any{nanos(s.now().Add(-claimRetention))}, lapsedArgs...)...)
	if err != nil {
		return fmt.Errorf("purge claims: %w", err)
	}
	return nil
}
