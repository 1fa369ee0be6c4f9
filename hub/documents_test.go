package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/hub/docstore"
)

// storedDocument reads job id's document from the hub's document store
// (files on SQLite, the database on PostgreSQL).
func (h *testHub) storedDocument(id string) ([]byte, error) {
	r, err := h.s.docs().Open(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// hasDocument reports whether the hub still keeps job id's document.
func (h *testHub) hasDocument(id string) bool {
	h.t.Helper()
	r, err := h.s.docs().Open(context.Background(), id)
	if errors.Is(err, docstore.ErrNotFound) {
		return false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	r.Close()
	return true
}

// documentCount is how many documents and uploads in progress the hub's
// store holds.
func (h *testHub) documentCount() int {
	h.t.Helper()
	if h.s.cfg.Database == "" {
		entries, err := os.ReadDir(h.s.jobsDir)
		if err != nil {
			h.t.Fatal(err)
		}
		return len(entries)
	}
	var n int
	if err := h.s.db.QueryRow("SELECT COUNT(*) FROM documents").Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestDocumentsAcrossNodes: on PostgreSQL, a job uploaded through one node
// is downloaded whole, and by range, through another that shares only the
// database (a data directory of its own), and a delete through the second
// removes the document for the first.
func TestDocumentsAcrossNodes(t *testing.T) {
	if testPG == nil {
		t.Skip("PostgreSQL only: a SQLite hub is one node")
	}
	a := newTestHub(t, nil)
	b := newTestHub(t, func(c *Config) { c.Database = a.s.cfg.Database })
	a.createUser(map[string]any{"username": "alice"})
	doc := readTestdata(t, "shared-mime-info-spec.pdf")
	id := a.uploadJob(map[string]string{"owner": "alice"}, "spec.pdf", doc)
	if j := b.getJob(id); j.Pages == 0 || j.Size != int64(len(doc)) {
		t.Errorf("job seen through the other node: %+v", j)
	}
	tok := "across-nodes-download-token-0123456789"
	if _, err := a.s.db.Exec("INSERT INTO download_tokens (token_hash, job_id, expires_at) VALUES (?, ?, ?)",
		tokenHash(tok), id, nanos(a.clock.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	url := "/agent/v1/jobs/" + id + "/document"
	if resp, body := b.download(url, tok, ""); resp.StatusCode != http.StatusOK || !bytes.Equal(body, doc) {
		t.Fatalf("download through the other node: %d, %d bytes of %d", resp.StatusCode, len(body), len(doc))
	}
	resp, tail := b.download(url, tok, "bytes=1000-")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(tail, doc[1000:]) {
		t.Errorf("range download through the other node: %d, %d bytes", resp.StatusCode, len(tail))
	}
	if entries, _ := os.ReadDir(filepath.Join(a.dir, "jobs")); len(entries) != 0 {
		t.Errorf("%d files in the first node's jobs directory", len(entries))
	}
	b.mustStatus(b.admin(http.MethodDelete, "/api/v1/jobs/"+id, nil), http.StatusNoContent)
	if a.hasDocument(id) {
		t.Error("document deleted through one node still there for the other")
	}
}

// memoryDocSize is the document TestDocumentMemory sends through the hub.
const memoryDocSize = 64 << 20

// TestDocumentMemory uploads a 64 MiB document to the hub and downloads it
// back, on the suite's engine, and checks that the hub never held it whole:
// the live heap (as each garbage collection measured it) never grew by
// half of it. The test itself streams both ways, from a seeded generator
// and into a hash. It logs the growth seen (docs/ARCHITECTURE.md).
func TestDocumentMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB")
	}
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "alice"})
	peak := watchLiveHeap()
	upSum, id := h.streamUpload(t, memoryDocSize)
	tok := "memory-test-download-token-0123456789"
	if _, err := h.s.db.Exec("INSERT INTO download_tokens (token_hash, job_id, expires_at) VALUES (?, ?, ?)",
		tokenHash(tok), id, nanos(h.clock.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	downSum, n := h.streamDownload(t, "/agent/v1/jobs/"+id+"/document", tok)
	grew := peak()
	if n != memoryDocSize || downSum != upSum {
		t.Fatalf("downloaded %d bytes, sha256 %x; uploaded %d, %x", n, downSum, memoryDocSize, upSum)
	}
	t.Logf("engine %q: live heap grew by at most %.1f MiB for a %d MiB upload and download",
		h.s.db.Engine(), float64(grew)/(1<<20), memoryDocSize>>20)
	if grew > memoryDocSize/2 {
		t.Errorf("live heap grew by %d MiB moving a %d MiB document", grew>>20, memoryDocSize>>20)
	}
}

// streamUpload uploads size bytes from a seeded generator as alice's job,
// writing the multipart body as the request is sent.
func (h *testHub) streamUpload(t *testing.T, size int64) ([32]byte, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	sum := sha256.New()
	go func() {
		err := mw.WriteField("owner", "alice")
		var part io.Writer
		if err == nil {
			part, err = mw.CreateFormFile("file", "big.bin")
		}
		if err == nil {
			rnd := rand.NewChaCha8([32]byte{13})
			_, err = io.Copy(io.MultiWriter(part, sum), io.LimitReader(rnd, size))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	r := h.mustStatus(h.do(http.MethodPost, "/api/v1/jobs", testAdminToken, mw.FormDataContentType(), pr), http.StatusCreated)
	id, _ := r.json(t)["id"].(string)
	return [32]byte(sum.Sum(nil)), id
}

// streamDownload downloads url into a hash.
func (h *testHub) streamDownload(t *testing.T, url, token string) ([32]byte, int64) {
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: status %d", resp.StatusCode)
	}
	sum := sha256.New()
	n, err := io.Copy(sum, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(sum.Sum(nil)), n
}

// watchLiveHeap samples the live heap (what the last garbage collection
// found reachable) until the function it returns is called, which
// returns the most it grew above its start.
func watchLiveHeap() func() uint64 {
	runtime.GC()
	read := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := read()
	var most uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				most = max(most, read())
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		runtime.GC()
		most = max(most, read())
		return most - min(most, base)
	}
}
