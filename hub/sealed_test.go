package hub

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testenv"
)

// sealedDatabase is a fresh PostgreSQL database for a test of the sealed
// secrets: the package's cluster when the suite runs on PostgreSQL, else
// one of the test's own (the secrets live in the database only there).
func sealedDatabase(t *testing.T) string {
	t.Helper()
	if testPG != nil {
		return testDatabase(t)
	}
	return testenv.StartPostgres(t).NewDatabase(t)
}

// TestSecretsSealedInDatabase: nodes on one PostgreSQL database, each with
// a data directory of its own, share hub.key, offline.key, the admin
// token's hash and the agent CA through the database, sealed under the
// secrets key; a node with another secrets key, or another admin token,
// is refused, and none of the secrets is stored in clear.
func TestSecretsSealedInDatabase(t *testing.T) {
	dsn := sealedDatabase(t)
	ca := testCA(t)
	node := func(edit func(*Config)) (*Server, error) {
		cfg := Config{DataDir: t.TempDir(), Database: dsn, SecretsKey: testSecretsKey, AdminToken: testAdminToken,
			Clock: clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
		if edit != nil {
			edit(&cfg)
		}
		s, err := Open(context.Background(), cfg)
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}
	first, err := node(func(c *Config) { c.CA = ca })
	if err != nil {
		t.Fatal(err)
	}
	second, err := node(func(c *Config) { c.AdminToken = "" }) // no token, no CA: the database's
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.key, second.key) || !bytes.Equal(first.offline.key, second.offline.key) {
		t.Error("the nodes hold different hub or offline keys")
	}
	if !second.adminOK(testAdminToken) || second.adminOK("another") {
		t.Error("the second node does not take the first node's admin token alone")
	}
	if second.cfg.CA == nil || !second.cfg.CA.cert.Equal(ca.cert) {
		t.Error("the second node has not the agent CA the first stored")
	}
	rows, err := first.db.Query("SELECT name, sealed FROM secrets")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var sealed []byte
		if err := rows.Scan(&name, &sealed); err != nil {
			t.Fatal(err)
		}
		for _, clear := range [][]byte{first.key, first.offline.key, adminHash(testAdminToken), []byte("PRIVATE KEY")} {
			if bytes.Contains(sealed, clear) {
				t.Errorf("secret %s holds a secret in clear", name)
			}
		}
	}
	refusals := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"another secrets key", func(c *Config) { c.SecretsKey = bytes.Repeat([]byte{1}, SecretsKeySize) }, errSealedKey},
		{"another admin token", func(c *Config) { c.AdminToken = "another-token" }, nil},
		{"no secrets key", func(c *Config) { c.SecretsKey = nil }, nil},
	}
	for _, tc := range refusals {
		_, err := node(tc.edit)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want a refusal", tc.name, err)
		}
	}
}
