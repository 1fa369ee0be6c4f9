package hub

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/protocol"
)

// rotated is loginHub's hub after a rotation of hub.key, opened again,
// with a booted agent, and the key the users were created under.
func rotated(t *testing.T) (*testHub, *testAgent, []byte) {
	t.Helper()
	h, _, _ := loginHub(t, nil)
	old := h.s.key
	h.restartRotated(false)
	h2 := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.CardRegistration = true; h.sameStore(c) })
	if reflect.DeepEqual(h2.s.key, old) || !reflect.DeepEqual(h2.s.keys.prev, old) {
		t.Fatal("the hub did not load the new key with the old one as the previous")
	}
	a := h2.mustDial("")
	a.boot("agent-2")
	return h2, a, old
}

// restartRotated closes h and rotates its hub.key.
func (h *testHub) restartRotated(force bool) RotationResult {
	h.t.Helper()
	h.srv.CloseClientConnections()
	if err := h.s.Close(); err != nil {
		h.t.Fatal(err)
	}
	res, err := RotateHubKey(h.t.Context(), h.where(), testSecretsKey, force)
	if err != nil {
		h.t.Fatalf("rotate: %v", err)
	}
	return res
}

// keyedUnder reports the key_id of the card or PIN stored under key, and
// whether there is one; with it, whether its offline verifier points at it.
func (h *testHub) keyedUnder(kind, secret string, key []byte) (id int64, found, verifier bool) {
	h.t.Helper()
	table, _, vcol := credentialTable(kind)
	lookup := lookupKey(key, kind, secret)
	err := h.s.db.QueryRowContext(h.t.Context(), "SELECT key_id, (SELECT COUNT(*) FROM offline_verifiers WHERE "+vcol+" = ?) FROM "+table+" WHERE lookup = ?",
		lookup, lookup).Scan(&id, &verifier)
	if err != nil {
		return 0, false, false
	}
	return id, true, verifier
}

// Cards and PINs created under the first key log in after a rotation, in
// every mode and through the admin API, and each is re-keyed when seen:
// found under the new key, with its offline verifier, and no longer under
// the old one.
func TestRotateHubKeyRekeysOnUse(t *testing.T) {
	type cred struct{ kind, secret string }
	tests := []struct {
		name  string
		use   func(h *testHub, a *testAgent)
		moved []cred
	}{
		{"card", func(h *testHub, a *testAgent) {
			wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: aliceCard}))
		}, []cred{{"card", aliceCard}}},
		{"PIN", func(h *testHub, a *testAgent) {
			wantAccepted(t, a.authorize(protocol.AuthorizeRequest{PIN: bobPIN}))
		}, []cred{{"pin", bobPIN}}},
		{"card and PIN", func(h *testHub, a *testAgent) {
			wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: bobCard, PIN: bobPIN}))
		}, []cred{{"card", bobCard}, {"pin", bobPIN}}},
		{"register card", func(h *testHub, a *testAgent) {
			if got := a.register(protocol.RegisterCardRequest{Card: carolCard, Username: "bob", Password: bobPassword}); got.Reason != protocol.ReasonCardTaken {
				t.Errorf("bob registers carol's card: %+v", got)
			}
			if got := a.authorize(protocol.AuthorizeRequest{Card: carolCard}); got.User == nil || got.User.Username != "carol" {
				t.Errorf("carol's card after bob tried to register it: %+v", got)
			}
		}, []cred{{"card", carolCard}}},
		{"admin update", func(h *testHub, a *testAgent) {
			h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"cards": []string{bobCard, newCard}, "pins": []string{bobPIN}}), http.StatusOK)
			wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: bobCard, PIN: bobPIN}))
		}, []cred{{"card", bobCard}, {"pin", bobPIN}}},
		{"import", func(h *testHub, a *testAgent) {
			h.mustStatus(h.admin(http.MethodPost, importPath, map[string]any{"users": []map[string]any{
				{"username": "bob", "cards": []string{bobCard, newCard}, "pins": []string{bobPIN}}}}), http.StatusOK)
			h.mustStatus(h.admin(http.MethodPost, importPath, map[string]any{"users": []map[string]any{
				{"username": "dave", "cards": []string{carolCard}}}}), http.StatusUnprocessableEntity)
			wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: bobCard, PIN: bobPIN}))
		}, []cred{{"card", bobCard}, {"pin", bobPIN}}},
		// Refused, the change is rolled back with the re-keying it did.
		{"duplicate on create", func(h *testHub, a *testAgent) {
			h.mustStatus(h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "dave", "cards": []string{bobCard}}), http.StatusConflict)
			h.mustStatus(h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "erin", "pins": []string{bobPIN}}), http.StatusConflict)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, a, old := rotated(t)
			tt.use(h, a)
			for _, c := range tt.moved {
				if _, found, _ := h.keyedUnder(c.kind, c.secret, old); found {
					t.Errorf("%s %s: still under the old key", c.kind, c.secret)
				}
				id, found, verifier := h.keyedUnder(c.kind, c.secret, h.s.key)
				if !found || id != h.s.keys.id || !verifier {
					t.Errorf("%s %s under the new key: found %v, key id %d (want %d), verifier %v", c.kind, c.secret, found, id, h.s.keys.id, verifier)
				}
			}
			// Those not used stay where they were.
			if _, found, _ := h.keyedUnder("pin", aliceOldPIN, old); !found {
				t.Error("alice's old PIN moved without being used")
			}
		})
	}
}

func wantAccepted(t *testing.T, got protocol.AuthorizeResponse) {
	t.Helper()
	if got.Status != protocol.AuthAccepted {
		t.Errorf("login refused: %+v", got)
	}
}

// A second rotation is refused while cards and PINs remain under the
// previous key, and says how many; forced, it makes them stop matching
// while those re-keyed in between still log in.
func TestRotateHubKeyRefusesWhileOldRowsRemain(t *testing.T) {
	h, a, _ := rotated(t)
	wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: aliceCard}))
	wantAccepted(t, a.authorize(protocol.AuthorizeRequest{PIN: alicePIN}))
	h.srv.CloseClientConnections()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := RotateHubKey(t.Context(), h.where(), testSecretsKey, false)
	var inUse *PreviousKeyInUseError
	if !errors.As(err, &inUse) || inUse.Cards != 3 || inUse.PINs != 2 {
		t.Fatalf("rotation with old rows left: %v, want 3 cards and 2 PINs in use", err)
	}
	res, err := RotateHubKey(t.Context(), h.where(), testSecretsKey, true)
	if err != nil || res.Cards != 3 || res.PINs != 2 {
		t.Fatalf("forced rotation: %+v, %v", res, err)
	}
	h2 := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; h.sameStore(c) })
	a2 := h2.mustDial("")
	a2.boot("agent-3")
	tests := []struct {
		name string
		req  protocol.AuthorizeRequest
		want string // "" for accepted
	}{
		{"card re-keyed before", protocol.AuthorizeRequest{Card: aliceCard}, ""},
		{"PIN re-keyed before", protocol.AuthorizeRequest{PIN: alicePIN}, ""},
		{"card dropped", protocol.AuthorizeRequest{Card: bobCard}, protocol.ReasonUnknownCard},
		{"PIN dropped", protocol.AuthorizeRequest{PIN: bobPIN}, protocol.ReasonUnknownPIN},
	}
	for _, tt := range tests {
		if got := a2.authorize(tt.req); got.Reason != tt.want {
			t.Errorf("%s: %+v, want reason %q", tt.name, got, tt.want)
		}
	}
	// The dropped rows no longer block: a third rotation needs no force.
	h2.srv.CloseClientConnections()
	if err := h2.s.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := RotateHubKey(t.Context(), h.where(), testSecretsKey, false); err != nil || res.DeadCards != 3 || res.DeadPINs != 2 {
		t.Errorf("third rotation: %+v, %v; want 3 cards and 2 PINs under neither key", res, err)
	}
}

// A hub still running on the key a rotation replaced refuses to write
// cards and PINs (it could bind a card another user holds under the new
// key) and says why rather than calling a re-keyed card unknown.
func TestRotateHubKeyStaleNode(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	if _, err := RotateHubKey(t.Context(), h.where(), testSecretsKey, false); err != nil {
		t.Fatal(err)
	}
	r := h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "dave", "cards": []string{newCard}})
	if r.status == http.StatusCreated {
		t.Error("a stale hub created a user with a card")
	}
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "erin", "password": alicePassword}), http.StatusCreated)
	// Cards still under the key it runs on keep working.
	wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: aliceCard}))
	if err := a.call(protocol.ActionAuthorize, protocol.AuthorizeRequest{Card: newCard}, &protocol.AuthorizeResponse{}); err == nil {
		t.Error("a stale hub called a card unknown")
	}
}

// A backup taken between a rotation and the re-keying of every card holds
// hub.key.previous, and a hub restored from it logs in a card still under
// that key.
func TestRotateHubKeyBackupHoldsPreviousKey(t *testing.T) {
	sqliteOnly(t)
	h, _, old := rotated(t)
	var buf bytes.Buffer
	if _, err := Backup(t.Context(), h.s.cfg.DataDir, &buf, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(t.Context(), &buf, dir); err != nil {
		t.Fatal(err)
	}
	if prev, err := os.ReadFile(filepath.Join(dir, prevHubKeyFile)); err != nil || !bytes.Equal(prev, old) {
		t.Fatalf("restored hub.key.previous: %v, want the key before the rotation", err)
	}
	r := newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true })
	a := r.mustDial("")
	a.boot("agent-4")
	wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: bobCard}))
}

// copy-store of a SQLite hub between a rotation and the re-keying of every
// card seals hub.key.previous too: on PostgreSQL a card still under it
// logs in, and is re-keyed there.
func TestRotateHubKeyCopyStoreCarriesPreviousKey(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.Database = "" })
	h.createUser(map[string]any{"username": "bob", "cards": []string{bobCard}})
	old := h.s.key
	h.restartRotated(false)
	var pg *testenv.Postgres
	dsn := copyTarget(t, &pg)
	if _, err := CopyStore(t.Context(), h.s.cfg.DataDir, dsn, testSecretsKey, nil); err != nil {
		t.Fatalf("CopyStore: %v", err)
	}
	p := newTestHub(t, func(c *Config) { c.Database = dsn; c.OpenEnrollment = true })
	if !bytes.Equal(p.s.keys.prev, old) {
		t.Fatal("the PostgreSQL hub did not load the previous key")
	}
	a := p.mustDial("")
	a.boot("agent-5")
	wantAccepted(t, a.authorize(protocol.AuthorizeRequest{Card: bobCard}))
	if id, found, _ := p.keyedUnder("card", bobCard, p.s.key); !found || id != p.s.keys.id {
		t.Errorf("bob's card on PostgreSQL: found %v, key id %d, want %d", found, id, p.s.keys.id)
	}
}
