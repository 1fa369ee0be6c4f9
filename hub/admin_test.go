package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthzAndRouting(t *testing.T) {
	h := newTestHub(t, nil)
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		wantStatus int
		wantCode   string
	}{
		{"healthz needs no token", "GET", "/healthz", "", 200, ""},
		{"healthz POST", "POST", "/healthz", "", 405, codeMethodNotAllowed},
		{"unknown path", "GET", "/nope", "", 404, codeNotFound},
		{"admin without token", "GET", "/api/v1/agents", "", 401, codeUnauthorized},
		{"admin with wrong token", "GET", "/api/v1/agents", "wrong", 401, codeUnauthorized},
		{"admin with a prefix of the token", "GET", "/api/v1/agents", testAdminToken[:5], 401, codeUnauthorized},
		{"unknown admin path without token", "GET", "/api/v1/nope", "", 401, codeUnauthorized},
		{"unknown admin path", "GET", "/api/v1/nope", testAdminToken, 404, codeNotFound},
		{"admin method not allowed", "PATCH", "/api/v1/users/alice", testAdminToken, 405, codeMethodNotAllowed},
		{"405 needs the token too", "PATCH", "/api/v1/users/alice", "", 401, codeUnauthorized},
		{"agents", "GET", "/api/v1/agents", testAdminToken, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.token, "", nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode != "" {
				if got := r.errorCode(t); got != tc.wantCode {
					t.Errorf("code %q, want %q", got, tc.wantCode)
				}
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if r.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	r := h.do("GET", "/healthz", "", "", nil)
	if got := r.json(t)["status"]; got != "ok" {
		t.Errorf("healthz status %v", got)
	}
}

func TestUsers(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "bob", "cards": []string{"CARD-BOB"}, "pins": []string{"8264"}})

	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"create", "POST", "/api/v1/users", map[string]any{
			"username": "alice", "full_name": "Alice Liddell", "language": "en-GB", "password": "correct horse",
			"cards": []any{"04A1B2C3", map[string]any{"value": "TEMP-1", "expires_at": "2025-03-02T09:00:00Z"}},
			"pins":  []any{"2580", map[string]any{"value": "739164"}},
		}, 201, ""},
		{"duplicate username", "POST", "/api/v1/users", map[string]any{"username": "alice"}, 409, codeConflict},
		{"bad JSON", "POST", "/api/v1/users", `{"username": `, 400, codeBadRequest},
		{"not an object", "POST", "/api/v1/users", `[1,2]`, 400, codeBadRequest},
		{"trailing data", "POST", "/api/v1/users", `{"username":"zed"} {}`, 400, codeBadRequest},
		{"unknown field", "POST", "/api/v1/users", map[string]any{"username": "zed", "email": "z@x"}, 400, codeBadRequest},
		{"card of wrong type", "POST", "/api/v1/users", `{"username":"zed","cards":[42]}`, 400, codeBadRequest},
		{"card object without value", "POST", "/api/v1/users", `{"username":"zed","cards":[{"expires_at":"2025-03-02T09:00:00Z"}]}`, 400, codeBadRequest},
		{"card object with bad time", "POST", "/api/v1/users", `{"username":"zed","cards":[{"value":"1","expires_at":"tomorrow"}]}`, 400, codeBadRequest},
		{"missing username", "POST", "/api/v1/users", map[string]any{"full_name": "Nobody"}, 422, codeInvalid},
		{"bad username", "POST", "/api/v1/users", map[string]any{"username": "has space"}, 422, codeInvalid},
		{"bad language", "POST", "/api/v1/users", map[string]any{"username": "zed", "language": "english please"}, 422, codeInvalid},
		{"short password", "POST", "/api/v1/users", map[string]any{"username": "zed", "password": "pw"}, 422, codeInvalid},
		{"empty card", "POST", "/api/v1/users", map[string]any{"username": "zed", "cards": []string{" "}}, 422, codeInvalid},
		{"card twice", "POST", "/api/v1/users", map[string]any{"username": "zed", "cards": []string{"X1", "X1"}}, 422, codeInvalid},
		{"PIN ascending", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"1234"}}, 422, codeInvalid},
		{"PIN descending", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"4321"}}, 422, codeInvalid},
		{"PIN repeated", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"1111"}}, 422, codeInvalid},
		{"PIN too short", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"258"}}, 422, codeInvalid},
		{"PIN too long", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"25801234567890123"}}, 422, codeInvalid},
		{"PIN not digits", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"25a0"}}, 422, codeInvalid},
		{"card of another user", "POST", "/api/v1/users", map[string]any{"username": "zed", "cards": []string{"CARD-BOB"}}, 409, codeConflict},
		{"PIN of another user", "POST", "/api/v1/users", map[string]any{"username": "zed", "pins": []string{"8264"}}, 409, codeConflict},
		{"get", "GET", "/api/v1/users/alice", nil, 200, ""},
		{"get unknown", "GET", "/api/v1/users/nobody", nil, 404, codeNotFound},
		{"put unknown", "PUT", "/api/v1/users/nobody", map[string]any{"full_name": "X"}, 404, codeNotFound},
		{"put rename", "PUT", "/api/v1/users/alice", map[string]any{"username": "alicia"}, 422, codeInvalid},
		{"put card of another user", "PUT", "/api/v1/users/alice", map[string]any{"cards": []string{"CARD-BOB"}}, 409, codeConflict},
		{"put bad JSON", "PUT", "/api/v1/users/alice", `{`, 400, codeBadRequest},
		{"delete unknown", "DELETE", "/api/v1/users/nobody", nil, 404, codeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin(tc.method, tc.path, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode != "" {
				if got := r.errorCode(t); got != tc.wantCode {
					t.Errorf("code %q, want %q", got, tc.wantCode)
				}
			}
		})
	}
	if _, err := h.s.db.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	// A failed POST left nothing behind.
	h.mustStatus(h.admin("GET", "/api/v1/users/zed", nil), 404)

	t.Run("view holds no secrets", func(t *testing.T) {
		r := h.mustStatus(h.admin("GET", "/api/v1/users/alice", nil), 200)
		for _, secret := range []string{"04A1B2C3", "TEMP-1", "2580", "739164", "correct horse", "argon2", "hash"} {
			if bytes.Contains(r.body, []byte(secret)) {
				t.Errorf("user view contains %q: %s", secret, r.body)
			}
		}
		var v userView
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Username != "alice" || v.FullName != "Alice Liddell" || v.Language != "en-GB" || !v.HasPassword {
			t.Errorf("view %+v", v)
		}
		if v.CardCount != 2 || v.PINCount != 2 || len(v.Cards) != 2 {
			t.Fatalf("counts %+v", v)
		}
		if v.Cards[0].ExpiresAt != nil || v.Cards[1].ExpiresAt == nil || !v.Cards[1].ExpiresAt.Equal(time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("card expiries %+v", v.Cards)
		}
	})
	t.Run("put replaces given fields only", func(t *testing.T) {
		r := h.mustStatus(h.admin("PUT", "/api/v1/users/alice", map[string]any{"language": "fr", "cards": []string{"NEW-CARD"}}), 200)
		var v userView
		json.Unmarshal(r.body, &v)
		if v.FullName != "Alice Liddell" || v.Language != "fr" || v.CardCount != 1 || v.PINCount != 2 || !v.HasPassword {
			t.Errorf("after PUT %+v", v)
		}
		// The card released by alice can now go to someone else.
		h.createUser(map[string]any{"username": "carol", "cards": []string{"04A1B2C3"}})
		r = h.mustStatus(h.admin("PUT", "/api/v1/users/alice", map[string]any{"password": nil, "pins": []string{}}), 200)
		json.Unmarshal(r.body, &v)
		if v.HasPassword || v.PINCount != 0 || v.CardCount != 1 {
			t.Errorf("after clearing %+v", v)
		}
	})
	t.Run("delete", func(t *testing.T) {
		h.mustStatus(h.admin("DELETE", "/api/v1/users/alice", nil), 204)
		h.mustStatus(h.admin("GET", "/api/v1/users/alice", nil), 404)
		h.mustStatus(h.admin("DELETE", "/api/v1/users/alice", nil), 404)
		var n int
		h.s.db.QueryRow("SELECT COUNT(*) FROM cards").Scan(&n)
		if n != 2 { // bob's and carol's
			t.Errorf("%d cards left, want 2", n)
		}
		// alice's name and card are free again.
		h.createUser(map[string]any{"username": "alice", "cards": []string{"NEW-CARD"}})
	})
}

func TestUploadAndJobs(t *testing.T) {
	onePage := readTestdata(t, "default.pdf")
	spec := readTestdata(t, "shared-mime-info-spec.pdf")
	h := newTestHub(t, func(c *Config) { c.MaxUpload = int64(len(spec)) })
	h.createUser(map[string]any{"username": "alice"})

	t.Run("PDF counted", func(t *testing.T) {
		id := h.uploadJob(map[string]string{"owner": "alice", "name": "default", "copies": "2", "color": "true", "duplex": "false"}, "default.pdf", onePage)
		j := h.getJob(id)
		sum := sha256.Sum256(onePage)
		want := jobView{ID: id, Owner: "alice", Name: "default", Pages: 1, Copies: 2, Color: true, Format: formatPDF,
			Size: int64(len(onePage)), SHA256: hex.EncodeToString(sum[:]), State: stateHeld, SubmittedAt: h.clock.Now()}
		if fmt.Sprint(j) != fmt.Sprint(want) {
			t.Errorf("job\n got %+v\nwant %+v", j, want)
		}
		stored, err := h.storedDocument(id)
		if err != nil || !bytes.Equal(stored, onePage) {
			t.Errorf("stored document differs (%v)", err)
		}
	})
	t.Run("PDF 1.5 with object streams", func(t *testing.T) {
		id := h.uploadJob(map[string]string{"owner": "alice"}, "spec.pdf", spec)
		j := h.getJob(id)
		if j.Pages != 17 || j.Name != "spec.pdf" || j.Size != int64(len(spec)) || j.Format != formatPDF {
			t.Errorf("job %+v, want 17 pages and the file name as its name", j)
		}
	})
	t.Run("pages given", func(t *testing.T) {
		id := h.uploadJob(map[string]string{"owner": "alice", "name": "spec", "pages": "17"}, "spec.pdf", spec)
		if j := h.getJob(id); j.Pages != 17 {
			t.Errorf("pages %d", j.Pages)
		}
	})
	for _, tc := range []struct {
		head   string
		format string
	}{{"%!PS-Adobe-3.0\n", formatPostScript}, {"\x1b%-12345X@PJL\n", formatOctetStream}} {
		t.Run(tc.format, func(t *testing.T) {
			id := h.uploadJob(map[string]string{"owner": "alice", "name": "x"}, "x", []byte(tc.head+"rest"))
			if j := h.getJob(id); j.Format != tc.format || j.Pages != 0 {
				t.Errorf("format %q pages %d, want %q 0", j.Format, j.Pages, tc.format)
			}
		})
	}

	errTests := []struct {
		name       string
		fields     map[string]string
		file       []byte
		wantStatus int
		wantCode   string
	}{
		{"unknown owner", map[string]string{"owner": "nobody", "name": "x"}, onePage, 422, codeInvalid},
		{"no owner", map[string]string{"name": "x"}, onePage, 422, codeInvalid},
		{"no file", map[string]string{"owner": "alice", "name": "x"}, nil, 422, codeInvalid},
		{"empty file", map[string]string{"owner": "alice", "name": "x"}, []byte{}, 422, codeInvalid},
		{"copies zero", map[string]string{"owner": "alice", "copies": "0"}, onePage, 422, codeInvalid},
		{"copies not a number", map[string]string{"owner": "alice", "copies": "two"}, onePage, 422, codeInvalid},
		{"color not a bool", map[string]string{"owner": "alice", "color": "maybe"}, onePage, 422, codeInvalid},
		{"duplex not a bool", map[string]string{"owner": "alice", "duplex": "2"}, onePage, 422, codeInvalid},
		{"pages negative", map[string]string{"owner": "alice", "pages": "-1"}, onePage, 422, codeInvalid},
		{"unknown field", map[string]string{"owner": "alice", "priority": "1"}, onePage, 400, codeBadRequest},
		{"too large", map[string]string{"owner": "alice"}, append(bytes.Clone(spec), 0), 413, codeTooLarge},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.upload(tc.fields, "f.pdf", tc.file)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if got := r.errorCode(t); got != tc.wantCode {
				t.Errorf("code %q, want %q", got, tc.wantCode)
			}
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		r := h.do("POST", "/api/v1/jobs", testAdminToken, "application/pdf", bytes.NewReader(onePage))
		if r.status != 400 || r.errorCode(t) != codeBadRequest {
			t.Errorf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("no stray files", func(t *testing.T) {
		var n int
		h.s.db.QueryRow("SELECT COUNT(*) FROM jobs").Scan(&n)
		if docs := h.documentCount(); docs != n {
			t.Errorf("%d documents for %d jobs", docs, n)
		}
	})
	t.Run("get and delete", func(t *testing.T) {
		h.mustStatus(h.admin("GET", "/api/v1/jobs/nope", nil), 404)
		h.mustStatus(h.admin("DELETE", "/api/v1/jobs/nope", nil), 404)
		id := h.uploadJob(map[string]string{"owner": "alice"}, "d.pdf", onePage)
		h.mustStatus(h.admin("DELETE", "/api/v1/jobs/"+id, nil), 204)
		if j := h.getJob(id); j.State != stateDeleted {
			t.Errorf("state %q", j.State)
		}
		if h.hasDocument(id) {
			t.Error("document still there")
		}
	})
}

func TestJobPagination(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "alice"})
	h.createUser(map[string]any{"username": "bob"})
	doc := readTestdata(t, "default.pdf")
	var ids []string
	for i := range 5 {
		ids = append(ids, h.uploadJob(map[string]string{"owner": "alice", "name": fmt.Sprint("job", i)}, "a.pdf", doc))
		h.uploadJob(map[string]string{"owner": "bob", "name": "other"}, "b.pdf", doc)
	}
	h.mustStatus(h.admin("DELETE", "/api/v1/jobs/"+ids[1], nil), 204)

	type page struct {
		Jobs []jobView `json:"jobs"`
		Next *string   `json:"next"`
	}
	list := func(query string) (page, response) {
		r := h.admin("GET", "/api/v1/jobs?"+query, nil)
		var p page
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
		}
		return p, r
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		p, r := list("owner=alice&limit=2" + cursor)
		h.mustStatus(r, 200)
		for _, j := range p.Jobs {
			got = append(got, j.ID)
		}
		if p.Next == nil {
			if !bytes.Contains(r.body, []byte(`"next":null`)) {
				t.Errorf("last page: %s", r.body)
			}
			break
		}
		if len(p.Jobs) != 2 {
			t.Errorf("page of %d", len(p.Jobs))
		}
		cursor = "&cursor=" + *p.Next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("paged ids\n got %v\nwant %v", got, ids)
	}
	p, _ := list("owner=alice&state=deleted")
	if len(p.Jobs) != 1 || p.Jobs[0].ID != ids[1] {
		t.Errorf("state filter: %+v", p.Jobs)
	}
	p, _ = list("")
	if len(p.Jobs) != 10 {
		t.Errorf("all jobs: %d", len(p.Jobs))
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=100000", "cursor=!!", "cursor=" + "eHl6", "state=lost"} {
		if _, r := list(q); r.status != 400 || r.errorCode(t) != codeBadRequest {
			t.Errorf("%s: status %d", q, r.status)
		}
	}
}

func TestJobExpiry(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.JobExpiry = time.Hour })
	h.createUser(map[string]any{"username": "alice"})
	doc := readTestdata(t, "default.pdf")
	old := h.uploadJob(map[string]string{"owner": "alice"}, "old.pdf", doc)
	h.clock.Advance(50 * time.Minute)
	young := h.uploadJob(map[string]string{"owner": "alice"}, "young.pdf", doc)
	h.clock.Advance(11 * time.Minute)
	if err := h.s.expire(t.Context()); err != nil {
		t.Fatal(err)
	}
	if j := h.getJob(old); j.State != stateExpired {
		t.Errorf("old job %q", j.State)
	}
	if h.hasDocument(old) {
		t.Error("expired document still there")
	}
	if j := h.getJob(young); j.State != stateHeld {
		t.Errorf("young job %q", j.State)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, AdminToken: "x"}
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Clone(s.key)
	if _, err := s.db.Exec("INSERT INTO users (username, created_at, updated_at) VALUES ('u', 0, 0)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "hub.key"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("hub.key: %v %v", fi, err)
	}
	s, err = Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !bytes.Equal(key, s.key) {
		t.Error("hub key changed on reopen")
	}
	var n, version int
	s.db.QueryRow("SELECT COUNT(*) FROM users").Scan(&n)
	s.db.QueryRow("PRAGMA user_version").Scan(&version)
	if n != 1 || version != len(migrations) {
		t.Errorf("users %d, schema version %d", n, version)
	}
	var mode string
	s.db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal mode %q", mode)
	}
	if _, err := Open(t.Context(), Config{DataDir: dir}); err == nil {
		t.Error("Open without an admin token succeeded")
	}
}

func TestAdminToken(t *testing.T) {
	noEnv := func(string) string { return "" }
	t.Run("file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "tok")
		os.WriteFile(f, []byte("  from-file\n"), 0o600)
		got, err := AdminToken(f, t.TempDir(), func(string) string { return "from-env" })
		if err != nil || got != "from-file" {
			t.Errorf("%q %v", got, err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "tok")
		os.WriteFile(f, []byte("\n"), 0o600)
		if _, err := AdminToken(f, t.TempDir(), noEnv); err == nil {
			t.Error("empty token file accepted")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := AdminToken(filepath.Join(t.TempDir(), "none"), t.TempDir(), noEnv); err == nil {
			t.Error("missing token file accepted")
		}
	})
	t.Run("env", func(t *testing.T) {
		dir := t.TempDir()
		got, err := AdminToken("", dir, func(k string) string {
			if k == AdminTokenEnv {
				return "from-env"
			}
			return ""
		})
		if err != nil || got != "from-env" {
			t.Errorf("%q %v", got, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "admin-token")); !os.IsNotExist(err) {
			t.Error("admin-token written although the env gave one")
		}
	})
	t.Run("generated", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		got, err := AdminToken("", dir, noEnv)
		if err != nil || len(got) != 64 {
			t.Fatalf("%q %v", got, err)
		}
		if _, err := hex.DecodeString(got); err != nil {
			t.Errorf("not hex: %v", err)
		}
		fi, err := os.Stat(filepath.Join(dir, "admin-token"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("admin-token: %v %v", fi, err)
		}
		again, err := AdminToken("", dir, noEnv)
		if err != nil || again != got {
			t.Errorf("second start: %q %v", again, err)
		}
	})
}

func TestCheckPIN(t *testing.T) {
	for pin, ok := range map[string]bool{
		"2580": true, "739164": true, "1357": true, "0000000000000000": false, "1234": false, "4321": false,
		"7890": false, "0987": false, "9999": false, "123": false, "12a4": false, "": false, "１２３５": false,
		"2580258025802580": true, "25802580258025802": false, "8264": true,
	} {
		if err := checkPIN(pin, DefaultPINMinLength); (err == nil) != ok {
			t.Errorf("checkPIN(%q) = %v, want ok=%v", pin, err, ok)
		}
	}
	// A site's longer minimum.
	for pin, ok := range map[string]bool{"2580": false, "25803": false, "739164": true, "123456": false, "2580258025802580": true} {
		if err := checkPIN(pin, 6); (err == nil) != ok {
			t.Errorf("checkPIN(%q, 6) = %v, want ok=%v", pin, err, ok)
		}
	}
}

func TestSecretHash(t *testing.T) {
	h, err := hashSecret("2580")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashSecret("2580")
	if h == h2 {
		t.Error("two hashes of one secret are equal: no salt")
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	for secret, want := range map[string]bool{"2580": true, "2581": false, "": false} {
		if ok, err := verifySecret(h, secret); err != nil || ok != want {
			t.Errorf("verify %q: %v %v", secret, ok, err)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=1,t=1,p=1$!$AA"} {
		if _, err := verifySecret(bad, "x"); err == nil {
			t.Errorf("verifySecret(%q) accepted", bad)
		}
	}
}
