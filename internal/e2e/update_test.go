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
	"strconv"
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
// update-agent task downloads 1.1.0 (cut in the middle, resumed), installs it, re-executes it in place (the same
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
	task, resumed := kit.serve(t)

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
	if !resumed("1.1.0") {
		t.Error("the cut download of 1.1.0 was fetched again from its start, not resumed with a Range request")
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
	for _, want := range []string{"download failed; trying again", "update: the new version on trial", "committed", "update: rolled back"} {
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
// the update-agent task payload for one, and whether a version's
// download was resumed (a Range request served after the cut).
func (k *updateKit) serve(t *testing.T) (task func(v string, downgrade bool) string, resumed func(v string) bool) {
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
	// The first download of each bundle is cut in the middle (the
	// connection closed after half its bytes): the agent resumes it with
	// a Range request.
	var mu sync.Mutex
	cut, ranged := map[string]bool{}, map[string]bool{}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimPrefix(r.URL.Path, "/")
		sum := sha256.Sum256(bundles[v])
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		mu.Lock()
		first := !cut[v]
		cut[v] = true
		ranged[v] = ranged[v] || r.Header.Get("Range") != ""
		mu.Unlock()
		if first && r.Header.Get("Range") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(bundles[v])))
			w.WriteHeader(http.StatusOK)
			w.Write(bundles[v][:len(bundles[v])/2])
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "b.tar", time.Time{}, bytes.NewReader(bundles[v]))
	}))
	t.Cleanup(files.Close)
	task = func(v string, downgrade bool) string {
		sum := sha256.Sum256(bundles[v])
		p, _ := json.Marshal(map[string]any{"url": files.URL + "/" + v, "sha256": hex.EncodeToString(sum[:]), "size": len(bundles[v]),
			"version": v, "downgrade": downgrade})
		return string(p)
	}
	resumed = func(v string) bool {
		mu.Lock()
		defer mu.Unlock()
		return ranged[v]
	}
	return task, resumed
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
