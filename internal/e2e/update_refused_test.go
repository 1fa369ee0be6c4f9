package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/firmware"
)

// TestUpdateRefusedEndToEnd: the real agent (1.0.0, from its slots, under
// the real hub) refuses each bad bundle of an update-agent task with its
// reason, and keeps running 1.0.0: a tampered manifest, payload or
// signature, a signing key its own bundle's revocation list revokes, an
// expired bundle, another architecture, and a downgrade.
func TestUpdateRefusedEndToEnd(t *testing.T) {
	kit := updateBuilds(t)
	dir := t.TempDir()
	slots := firmware.DirSlots{Root: filepath.Join(dir, "slots")}
	if err := slots.Init(kit.bins["1.0.0"]); err != nil {
		t.Fatal(err)
	}
	good := func(edit func(*firmware.Manifest)) []byte {
		m := firmware.Manifest{Product: firmware.Product, Version: "1.1.0", OS: runtime.GOOS, Arch: runtime.GOARCH, Expires: time.Now().Add(24 * time.Hour)}
		if edit != nil {
			edit(&m)
		}
		var b bytes.Buffer
		if err := firmware.WriteBundle(&b, kit.signing, kit.cert, m, map[string]string{"tessera": kit.bins["1.1.0"]}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	revoking, err := firmware.SignRevocations(kit.root, firmware.Revocations{Serial: 1, Revoked: []string{kit.signing.Public().ID()}})
	if err != nil {
		t.Fatal(err)
	}
	var carrying bytes.Buffer
	m := firmware.Manifest{Product: firmware.Product, Version: "1.1.0", OS: runtime.GOOS, Arch: runtime.GOARCH, Expires: time.Now().Add(24 * time.Hour)}
	if err := firmware.WriteBundleCarrying(&carrying, kit.signing, kit.cert, m, map[string]string{"tessera": kit.bins["1.1.0"]}, revoking); err != nil {
		t.Fatal(err)
	}
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	cases := []struct {
		name, version, reason string
		bundle                []byte
	}{
		{"tampered manifest", "1.1.0", "bad-signature", rewriteMember(t, good(nil), "manifest.json", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"1.1.0"`), []byte(`"1.1.1"`), 1)
		})},
		{"tampered payload", "1.1.0", "payload-mismatch", rewriteMember(t, good(nil), "tessera", func(b []byte) []byte {
			b[len(b)/2] ^= 0xff
			return b
		})},
		{"tampered signature", "1.1.0", "bad-signature", rewriteMember(t, good(nil), "manifest.sig", func(b []byte) []byte {
			b[0] ^= 0xff
			return b
		})},
		{"revoked signing key", "1.1.0", "revoked-key", carrying.Bytes()},
		{"expired", "1.1.0", "expired", good(func(m *firmware.Manifest) { m.Expires = time.Now().Add(-time.Hour) })},
		{"another architecture", "1.1.0", "wrong-platform", good(func(m *firmware.Manifest) { m.Arch = otherArch })},
		{"downgrade", "0.9.0", "downgrade", good(func(m *firmware.Manifest) { m.Version = "0.9.0" })},
	}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range cases {
			if r.URL.Path == "/"+strings.ReplaceAll(c.name, " ", "-") {
				http.ServeContent(w, r, "b.tar", time.Time{}, bytes.NewReader(c.bundle))
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(files.Close)

	h := startHub(t, build(t), t.TempDir(), "")
	startAgent(t, binaries{agent: slots.Binary()}, dir, h.url, "ipp://127.0.0.1:1/ipp/print", "", "")
	id := h.connectedAgent(t)
	for _, c := range cases {
		sum := sha256.Sum256(c.bundle)
		p, _ := json.Marshal(map[string]any{"url": files.URL + "/" + strings.ReplaceAll(c.name, " ", "-"),
			"sha256": hex.EncodeToString(sum[:]), "size": len(c.bundle), "version": c.version})
		v := h.taskEnded(t, h.createTask(t, id, "update-agent", string(p)))
		if v.State != "failed" || !strings.Contains(v.Error, "("+c.reason+")") {
			t.Errorf("%s: %s %q, want failed (%s)", c.name, v.State, v.Error, c.reason)
		}
	}
	if got := activeVersion(t, slots); got != "1.0.0" {
		t.Errorf("after the refusals the active slot runs %s", got)
	}
}

// rewriteMember returns the bundle with member name's content changed by
// edit, its header's size following, nothing re-signed.
func rewriteMember(t *testing.T, bundle []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(bundle))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == name {
			data = edit(data)
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
