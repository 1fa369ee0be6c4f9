package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestUpdateAgentEndToEnd: the real agent, built as 1.0.0 and 1.1.0 with
// a test root, runs from its update slots under the real hub. An
// update-agent task installs 1.1.0, re-executes it in place (the same
// process), and 1.1.0 passes its health check and reports the task
// completed. Then 1.2.0, a build that can never be healthy, is installed,
// fails its health check and is rolled back to 1.1.0 by itself, which
// reports why.
func TestUpdateAgentEndToEnd(t *testing.T) {
	kit := updateBuilds(t)
	dir := t.TempDir()
	slots := firmware.DirSlots{Root: filepath.Join(dir, "slots")}
	if err := slots.Init(kit.bins["1.0.0"]); err != nil {
		t.Fatal(err)
	}
	task := kit.serve(t)

	h := startHub(t, build(t), t.TempDir(), "")
	a := startAgent(t, binaries{agent: slots.Binary()}, dir, h.url, "ipp://127.0.0.1:1/ipp/print", "", "")
	id := h.connectedAgent(t)

	up := h.createTask(t, id, "update-agent", task("1.1.0", false))
	v := h.taskEnded(t, up)
	var res struct{ From, To string }
	if err := json.Unmarshal(v.Result, &res); v.State != "completed" || err != nil || res.From != "1.0.0" || res.To != "1.1.0" {
		t.Fatalf("update to 1.1.0: %+v", v)
	}
	if got := activeVersion(t, slots); got != "1.1.0" {
		t.Errorf("the active slot runs %s", got)
	}
	testutil.WaitErr(t, 20*time.Second, "1.1.0's panel", func() error { return getOK(a.panel + "/healthz") })

	bad := h.createTask(t, id, "update-agent", task("1.2.0", false))
	if v := h.taskEnded(t, bad); v.State != "failed" || !strings.Contains(v.Error, "rolled back to 1.1.0: health check failed") {
		t.Fatalf("update to 1.2.0: %+v", v)
	}
	if got := activeVersion(t, slots); got != "1.1.0" {
		t.Errorf("after the rollback the active slot runs %s", got)
	}
	select {
	case <-a.done:
		t.Fatalf("the agent process exited (code %d): not re-executed in place", a.exitCode())
	default:
	}
	out := a.Output()
	for _, want := range []string{"update: the new version on trial", "committed", "update: rolled back"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's log lacks %q", want)
		}
	}
	testutil.WaitErr(t, 20*time.Second, "1.1.0's panel again", func() error { return getOK(a.panel + "/healthz") })
	stopAgent(t, a)
}

// updateKit is what the update tests share, built once per test binary:
// the agent as 1.0.0 and 1.1.0, and as 1.2.0, a build that can never be
// healthy (tag tessera_failhealth), all trusting one test root and built
// with tag tessera_killstep (killed at a named step when the test asks:
// TestUpdateKilledEndToEnd); a signing key that root certified.
type updateKit struct {
	root    *firmware.PrivateKey
	signing *firmware.PrivateKey
	cert    firmware.Cert
	bins    map[string]string // version → binary
}

var sharedKit struct {
	sync.Mutex
	kit *updateKit
}

// updateBuilds builds the update tests' three agents, once.
func updateBuilds(t *testing.T) *updateKit {
	t.Helper()
	sharedKit.Lock()
	defer sharedKit.Unlock()
	if sharedKit.kit != nil {
		return sharedKit.kit
	}
	root, err := firmware.GenerateKey("e2e-root")
	if err != nil {
		t.Fatal(err)
	}
	signing, err := firmware.GenerateKey("e2e-signing")
	if err != nil {
		t.Fatal(err)
	}
	roots := "-X main.rootKeys=" + base64.StdEncoding.EncodeToString(firmware.MarshalPublicKey(root.Public()))
	const pkg = "github.com/tessera-print/tessera/cmd/tessera"
	kit := &updateKit{root: root, signing: signing, cert: firmware.SignKey(root, signing.Public()), bins: map[string]string{}}
	for v, tags := range map[string]string{"1.0.0": "tessera_killstep", "1.1.0": "tessera_killstep", "1.2.0": "tessera_killstep,tessera_failhealth"} {
		kit.bins[v] = testenv.BuildBinaryWith(t, pkg, "-tags", tags, "-ldflags", "-X main.buildVersion="+v+" "+roots)
	}
	sharedKit.kit = kit
	return kit
}

// serve serves a signed bundle of each of the kit's versions and returns
// the update-agent task payload for one.
func (k *updateKit) serve(t *testing.T) func(v string, downgrade bool) string {
	t.Helper()
	bundles := map[string][]byte{}
	for v, bin := range k.bins {
		var b bytes.Buffer
		m := firmware.Manifest{Product: firmware.Product, Version: v, OS: runtime.GOOS, Arch: runtime.GOARCH, Expires: time.Now().Add(24 * time.Hour)}
		if err := firmware.WriteBundle(&b, k.signing, k.cert, m, map[string]string{"tessera": bin}); err != nil {
			t.Fatal(err)
		}
		bundles[v] = b.Bytes()
	}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "b.tar", time.Time{}, bytes.NewReader(bundles[strings.TrimPrefix(r.URL.Path, "/")]))
	}))
	t.Cleanup(files.Close)
	return func(v string, downgrade bool) string {
		sum := sha256.Sum256(bundles[v])
		p, _ := json.Marshal(map[string]any{"url": files.URL + "/" + v, "sha256": hex.EncodeToString(sum[:]), "size": len(bundles[v]),
			"version": v, "downgrade": downgrade})
		return string(p)
	}
}

// activeVersion is what the active slot's binary says it is.
func activeVersion(t *testing.T, slots firmware.DirSlots) string {
	t.Helper()
	out, err := exec.Command(slots.Binary(), "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", slots.Binary(), err)
	}
	return strings.Fields(string(out))[1]
}
