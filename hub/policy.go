package hub

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Bounds of a policy.
const (
	maxQuota       = 1_000_000_000
	maxDuplexAbove = 1_000_000
	maxWindows     = 64
	// minBalance floors a balance so that absurd page counts from an agent
	// cannot overflow the integer (SQLite would turn it into a float).
	minBalance = math.MinInt64 / 2
)

// policyDoc is the "policy" object of a user document. QuotaPages is
// optional so that a PUT changing the rules leaves the balance alone unless
// it names it: the balance moves with every print, and an administrator
// who edits force_mono must not reset it by accident.
type policyDoc struct {
	ForceMono   bool
	DuplexAbove int
	Windows     []windowDoc
	QuotaPages  optional[int]
}

type windowDoc struct {
	Days []string `json:"days"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

// UnmarshalJSON decodes strictly: an unknown field or a wrong type is an
// error, as for the rest of a user document.
func (p *policyDoc) UnmarshalJSON(b []byte) error {
	var obj struct {
		ForceMono   bool          `json:"force_mono"`
		DuplexAbove int           `json:"duplex_above"`
		Windows     []windowDoc   `json:"windows"`
		QuotaPages  optional[int] `json:"quota_pages"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf(`policy: {"force_mono", "duplex_above", "windows", "quota_pages"}: %w`, err)
	}
	*p = policyDoc{ForceMono: obj.ForceMono, DuplexAbove: obj.DuplexAbove, Windows: obj.Windows, QuotaPages: obj.QuotaPages}
	return nil
}

// policyRules is the stored form of a policy's rules (the quota balance is
// a column of its own, so accounting can decrement it in SQL). Its JSON is
// the hub's own, independent of the wire format.
type policyRules struct {
	ForceMono   bool         `json:"force_mono"`
	DuplexAbove int          `json:"duplex_above"`
	Windows     []windowRule `json:"windows"`
}

type windowRule struct {
	Days []string `json:"days"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// checkPolicy validates a policy document into its stored rules and, when
// the document names it, the quota (nil: no quota).
func checkPolicy(d policyDoc) (rules policyRules, quotaSet bool, quota *int, err error) {
	if d.DuplexAbove < 0 || d.DuplexAbove > maxDuplexAbove {
		return rules, false, nil, errInvalid("policy.duplex_above: 0 (off) to %d pages", maxDuplexAbove)
	}
	if len(d.Windows) > maxWindows {
		return rules, false, nil, errInvalid("policy.windows: at most %d", maxWindows)
	}
	rules = policyRules{ForceMono: d.ForceMono, DuplexAbove: d.DuplexAbove, Windows: []windowRule{}}
	for i, w := range d.Windows {
		r, err := checkWindow(w)
		if err != nil {
			return rules, false, nil, errInvalid("policy.windows[%d]: %v", i, err)
		}
		rules.Windows = append(rules.Windows, r)
	}
	if d.QuotaPages.Set {
		quotaSet = true
		if !d.QuotaPages.Null {
			q := d.QuotaPages.Value
			if q < 0 || q > maxQuota {
				return rules, false, nil, errInvalid("policy.quota_pages: 0 to %d pages, or null for no quota", maxQuota)
			}
			quota = &q
		}
	}
	return rules, quotaSet, quota, nil
}

func checkWindow(w windowDoc) (windowRule, error) {
	r := windowRule{Days: []string{}, From: w.From, To: w.To}
	seen := map[string]bool{}
	for _, d := range w.Days {
		d = strings.ToLower(strings.TrimSpace(d))
		if !slices.Contains(weekdays, d) {
			return r, fmt.Errorf("days: each one of %s", strings.Join(weekdays, " "))
		}
		if seen[d] {
			return r, fmt.Errorf("days: %s listed twice", d)
		}
		seen[d] = true
		r.Days = append(r.Days, d)
	}
	from, ok := clockMinutes(w.From, false)
	if !ok {
		return r, errors.New(`from: "HH:MM", 00:00 to 23:59`)
	}
	to, ok := clockMinutes(w.To, true)
	if !ok {
		return r, errors.New(`to: "HH:MM", 00:01 to 24:00`)
	}
	if from >= to {
		return r, errors.New("from must be before to (a window does not cross midnight: split it)")
	}
	return r, nil
}

// clockMinutes parses "HH:MM" into minutes after midnight; "24:00" (the end
// of the day) only when endOfDay allows it.
func clockMinutes(s string, endOfDay bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	digit := func(c byte) (int, bool) { return int(c - '0'), c >= '0' && c <= '9' }
	h1, ok1 := digit(s[0])
	h2, ok2 := digit(s[1])
	m1, ok3 := digit(s[3])
	m2, ok4 := digit(s[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, false
	}
	h, m := h1*10+h2, m1*10+m2
	switch {
	case h == 24 && m == 0 && endOfDay:
		return 24 * 60, true
	case h > 23 || m > 59:
		return 0, false
	}
	return h*60 + m, true
}

// storedPolicy is a user's policy as read from the store.
type storedPolicy struct {
	rules policyRules
	quota sql.NullInt64
}

// readPolicy decodes the policy and quota_pages columns; nil when the user
// has no policy.
func readPolicy(rules sql.NullString, quota sql.NullInt64) (*storedPolicy, error) {
	if !rules.Valid {
		return nil, nil
	}
	p := &storedPolicy{quota: quota}
	if err := json.Unmarshal([]byte(rules.String), &p.rules); err != nil {
		return nil, fmt.Errorf("stored policy: %w", err)
	}
	return p, nil
}

// wire is the policy as the agent receives it.
func (p *storedPolicy) wire() *protocol.Policy {
	if p == nil {
		return nil
	}
	w := &protocol.Policy{ForceMono: p.rules.ForceMono, DuplexAbove: p.rules.DuplexAbove}
	for _, r := range p.rules.Windows {
		w.Windows = append(w.Windows, protocol.Window{Days: append([]string(nil), r.Days...), From: r.From, To: r.To})
	}
	if p.quota.Valid {
		q := clampInt(p.quota.Int64)
		w.QuotaPages = &q
	}
	return w
}

// clampInt fits a stored balance into an int (on 32-bit agents' hubs too).
func clampInt(n int64) int {
	return int(max(min(n, math.MaxInt32), math.MinInt32))
}

// policyView is a user's policy as the admin API shows it: quota_pages is
// the balance of pages left (below zero when pages printed while the hub
// was unreachable went beyond it), null for no quota.
type policyView struct {
	ForceMono   bool         `json:"force_mono"`
	DuplexAbove int          `json:"duplex_above"`
	Windows     []windowRule `json:"windows"`
	QuotaPages  *int64       `json:"quota_pages"`
}

func (p *storedPolicy) view() *policyView {
	if p == nil {
		return nil
	}
	v := &policyView{ForceMono: p.rules.ForceMono, DuplexAbove: p.rules.DuplexAbove, Windows: p.rules.Windows}
	if v.Windows == nil {
		v.Windows = []windowRule{}
	}
	for i := range v.Windows {
		if v.Windows[i].Days == nil {
			v.Windows[i].Days = []string{}
		}
	}
	if p.quota.Valid {
		q := p.quota.Int64
		v.QuotaPages = &q
	}
	return v
}

// policyColumns are the values of the policy and quota_pages columns a
// new user gets from a change.
func (c *userChange) policyColumns() (sql.NullString, sql.NullInt64) {
	var rules sql.NullString
	var quota sql.NullInt64
	if c.policySet && c.policy != nil {
		b, _ := json.Marshal(c.policy) // a struct of plain fields cannot fail
		rules = sql.NullString{String: string(b), Valid: true}
		if c.quota != nil {
			quota = sql.NullInt64{Int64: int64(*c.quota), Valid: true}
		}
	}
	return rules, quota
}

// chargesQuota says whether records of type typ take pages from their
// owner's quota: prints and copies (a copy is a page printed at the
// panel); scans and faxes never do (issue 11).
func chargesQuota(typ string) bool {
	return typ == protocol.RecordPrint || typ == protocol.RecordCopy
}

// chargeQuota takes a printed record's pages from its owner's balance, in
// the transaction that stored the record, so each record id is charged
// exactly once. A user without a quota is not charged; the balance may go
// below zero (pages printed while the hub was unreachable are owed anyway).
func chargeQuota(ctx context.Context, tx *store.Tx, owner string, pages int) (charged bool, err error) {
	if pages <= 0 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx,
		// CASE, not MAX(a, b) (SQLite) or GREATEST (PostgreSQL): one SQL for both.
		`UPDATE users SET quota_pages = CASE WHEN quota_pages - ? > ? THEN quota_pages - ? ELSE ? END
		 WHERE username = ? AND quota_pages IS NOT NULL`,
		min(int64(pages), maxQuota), int64(minBalance), min(int64(pages), maxQuota), int64(minBalance), owner)
	if err != nil {
		return false, fmt.Errorf("charge %d pages to %s: %w", pages, owner, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("charge %d pages to %s: %w", pages, owner, err)
	}
	return n > 0, nil
}

// quotaDoc is the body of POST /api/v1/users/{username}/quota: exactly one
// of add and set.
type quotaDoc struct {
	Add optional[int64] `json:"add"`
	Set optional[int64] `json:"set"`
}

func decodeQuotaDoc(r io.Reader) (quotaDoc, error) {
	var d quotaDoc
	err := decodeStrict(r, "quota document", &d)
	return d, err
}

// changeQuota answers POST /api/v1/users/{username}/quota: {"add": N} tops
// the balance up (or, negative, takes pages off), {"set": N} sets it, and
// {"set": null} removes the quota. Setting a quota on a user without a
// policy gives them an empty one.
func (s *Server) changeQuota(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	d, err := decodeQuotaDoc(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge("quota document larger than %d bytes", mbe.Limit)
		}
		return errBadRequest("%v", err)
	}
	switch {
	case d.Add.Set == d.Set.Set:
		return errInvalid(`give exactly one of "add" and "set"`)
	case d.Add.Set && (d.Add.Null || d.Add.Value < -maxQuota || d.Add.Value > maxQuota):
		return errInvalid("add: %d to %d pages", -maxQuota, maxQuota)
	case d.Set.Set && !d.Set.Null && (d.Set.Value < 0 || d.Set.Value > maxQuota):
		return errInvalid("set: 0 to %d pages, or null for no quota", maxQuota)
	}
	var before, after sql.NullInt64
	err = s.inTx(r.Context(), func(tx *store.Tx) error {
		var id int64
		err := tx.QueryRowContext(r.Context(), "SELECT id, quota_pages FROM users WHERE username = ?", username).Scan(&id, &before)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound("no user %q", username)
		}
		if err != nil {
			return err
		}
		switch {
		case d.Add.Set && !before.Valid:
			return errConflict("user %q has no quota to add to; set one first", username)
		case d.Add.Set:
			n := before.Int64 + d.Add.Value
			if n > maxQuota {
				return errInvalid("add: the balance would exceed %d pages", maxQuota)
			}
			after = sql.NullInt64{Int64: max(n, minBalance), Valid: true}
		case !d.Set.Null:
			after = sql.NullInt64{Int64: d.Set.Value, Valid: true}
		}
		// A quota needs a policy to live in; removing the quota leaves the
		// rules as they are.
		_, err = tx.ExecContext(r.Context(),
			"UPDATE users SET quota_pages = ?, policy = COALESCE(policy, ?), updated_at = ? WHERE id = ?",
			after, emptyRulesJSON, nanos(s.now()), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("change quota of %s: %w", username, err)
	}
	s.log.Info("quota changed", "username", username, "before", nullInt(before), "after", nullInt(after))
	v, err := s.userView(r.Context(), username)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

const emptyRulesJSON = `{"force_mono":false,"duplex_above":0,"windows":[]}`

// nullInt renders an optional balance for the log.
func nullInt(n sql.NullInt64) any {
	if !n.Valid {
		return "none"
	}
	return n.Int64
}
