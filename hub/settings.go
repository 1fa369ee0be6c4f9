package hub

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/hub/store"
)

// Settings are the hub-wide settings of GET and PUT /api/v1/settings. Each
// field's JSON name is its key in the settings table (one row per key); a
// key without a row has its default (defaultSettings). To add a setting:
// a field here, its default, its rule in validate, a line in
// docs/hub-api.md.
type Settings struct {
	// OfflineScope is which users the hub gives each agent for offline
	// login: "all", or "home" (only those whose home_agent it is).
	OfflineScope string `json:"offline_scope"`
	// OfflineTTL is how long a cached user stays usable offline after the
	// agent's last successful sync: a Go duration, minTTL to maxTTL.
	OfflineTTL string `json:"offline_ttl"`
	// CardPipeline converts a card number as printed on the card into
	// the number the site's agents read (the agents' card_pipeline
	// language, cardreader/cardnum; "": the same). A card given with
	// "printed": true goes through it.
	CardPipeline string `json:"card_pipeline"`
}

// Bounds of offline_ttl. Below an hour, an ordinary outage would lock out
// everyone; beyond 30 days (the default ledger retention), a person removed
// at the hub stays usable on a device that stays disconnected too long.
const (
	minOfflineTTL = time.Hour
	maxOfflineTTL = 720 * time.Hour
)

const (
	scopeAll  = "all"
	scopeHome = "home"
)

// maxSettingsBody bounds a settings document.
const maxSettingsBody = 64 << 10

func defaultSettings() Settings {
	return Settings{OfflineScope: scopeAll, OfflineTTL: "24h"}
}

// validate checks every setting at once: a document is stored whole or not
// at all.
func (st Settings) validate() error {
	if st.OfflineScope != scopeAll && st.OfflineScope != scopeHome {
		return errInvalid("offline_scope: %q or %q, not %q", scopeAll, scopeHome, st.OfflineScope)
	}
	d, err := time.ParseDuration(st.OfflineTTL)
	if err != nil {
		return errInvalid("offline_ttl: a duration such as \"24h\" or \"90m\", not %q", st.OfflineTTL)
	}
	if d < minOfflineTTL || d > maxOfflineTTL {
		return errInvalid("offline_ttl: from %s to %s, not %q", fmtHours(minOfflineTTL), fmtHours(maxOfflineTTL), st.OfflineTTL)
	}
	if _, err := st.cardPipeline(); err != nil {
		return errInvalid("card_pipeline: %v", err)
	}
	return nil
}

// cardPipeline is card_pipeline parsed (nil: none, numbers as printed).
func (st Settings) cardPipeline() (*cardnum.Pipeline, error) {
	if strings.TrimSpace(st.CardPipeline) == "" {
		return nil, nil
	}
	return cardnum.Parse(st.CardPipeline)
}

// TTL is offline_ttl as a duration (validate has parsed it).
func (st Settings) TTL() time.Duration {
	d, _ := time.ParseDuration(st.OfflineTTL)
	return d
}

func fmtHours(d time.Duration) string { return fmt.Sprintf("%.0fh", d.Hours()) }

// querier is what loadSettings reads through: the database or a
// transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadSettings reads the stored settings over their defaults. A stored key
// this hub does not know (written by a newer one) is ignored.
func loadSettings(ctx context.Context, q querier) (Settings, error) {
	fields, err := settingsFields(defaultSettings())
	if err != nil {
		return Settings{}, err
	}
	rows, err := q.QueryContext(ctx, "SELECT key, value FROM settings")
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, value string
		if err := rows.Scan(&key, &value); err != nil {
			return Settings{}, fmt.Errorf("read settings: %w", err)
		}
		if _, ok := fields[key]; ok {
			fields[key] = json.RawMessage(value)
		}
	}
	if err := rows.Err(); err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	var st Settings
	if err := json.Unmarshal(b, &st); err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	return st, nil
}

// settingsFields is st keyed by the settings' JSON names.
func settingsFields(st Settings) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(b, &m)
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) error {
	st, err := loadSettings(r.Context(), s.db)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// putSettings changes the settings the body names; the others keep their
// values. The whole body is checked before anything is stored.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSettingsBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge("settings document larger than %d bytes", maxSettingsBody)
		}
		return errBadRequest("settings document: %v", err)
	}
	var next Settings
	err = s.inTx(r.Context(), func(tx *store.Tx) error {
		cur, err := loadSettings(r.Context(), tx)
		if err != nil {
			return err
		}
		names, err := settingsPatch(body, &cur)
		if err != nil {
			return err
		}
		if err := cur.validate(); err != nil {
			return err
		}
		fields, err := settingsFields(cur)
		if err != nil {
			return err
		}
		now := nanos(s.now())
		for _, k := range names {
			if _, err := tx.ExecContext(r.Context(),
				`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
				 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
				k, string(fields[k]), now); err != nil {
				return err
			}
		}
		next = cur
		// A delta cannot say who left an agent's scope, and the TTL
		// travels with every page: every agent syncs anew.
		return restartUserSync(r.Context(), tx)
	})
	if err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	s.log.Info("settings updated", "offline_scope", next.OfflineScope, "offline_ttl", next.OfflineTTL)
	writeJSON(w, http.StatusOK, next)
	return nil
}

// settingsPatch decodes a settings document over st and returns the keys
// it names. It must be one JSON object of known keys, each spelt exactly
// as documented, none null (omit a key to keep its value).
func settingsPatch(body []byte, st *Settings) ([]string, error) {
	if err := decodeStrict(bytes.NewReader(body), "settings document", st); err != nil {
		return nil, errBadRequest("%v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, errBadRequest("settings document: want a JSON object")
	}
	known, err := settingsFields(*st)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for k, v := range m {
		if _, ok := known[k]; !ok {
			return nil, errBadRequest("settings document: unknown field %q", k)
		}
		if string(bytes.TrimSpace(v)) == "null" {
			return nil, errBadRequest("settings document: %s: null is not a value (omit the field to keep it)", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}
