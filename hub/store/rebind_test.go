package store

import (
	"database/sql"
	"reflect"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"SELECT '?' || ? FROM \"we?ird\" WHERE x = ?", "SELECT '?' || $1 FROM \"we?ird\" WHERE x = $2"},
		{"SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1"},
		{"INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?)", "INSERT INTO t VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"},
		{"UPDATE t SET a = CASE WHEN ?1 = 1 THEN ?2 ELSE a END, b = ?12 WHERE c = ?1", "UPDATE t SET a = CASE WHEN $1 = 1 THEN $2 ELSE a END, b = $12 WHERE c = $1"},
		{"SELECT ?2, ?, ?1, ?", "SELECT $2, $3, $1, $4"},
		{"SELECT '?1' || ?1", "SELECT '?1' || $1"},
	}
	for _, tc := range tests {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPgArgs(t *testing.T) {
	in := []any{true, false, sql.NullBool{Bool: true, Valid: true}, sql.NullBool{}, "x", int64(3), []byte("b")}
	want := []any{int64(1), int64(0), sql.NullInt64{Int64: 1, Valid: true}, sql.NullInt64{}, "x", int64(3), []byte("b")}
	if got := pgArgs(in); !reflect.DeepEqual(got, want) {
		t.Errorf("pgArgs = %#v, want %#v", got, want)
	}
	if !reflect.DeepEqual(in[0], true) {
		t.Error("pgArgs changed its input")
	}
	plain := []any{"a", 1}
	if got := pgArgs(plain); &got[0] != &plain[0] {
		t.Error("pgArgs copied arguments that needed no change")
	}
}

func TestIsWrite(t *testing.T) {
	tests := []struct {
		q    string
		want bool
	}{
		{"SELECT 1", false},
		{"  insert into t values (1)", true},
		{"\n\tUPDATE t SET a = 1", true},
		{"DELETE FROM t", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", true},
		{"(SELECT 1) UNION (SELECT 2)", false},
	}
	for _, tc := range tests {
		if got := isWrite(tc.q); got != tc.want {
			t.Errorf("isWrite(%q) = %v", tc.q, got)
		}
	}
}
