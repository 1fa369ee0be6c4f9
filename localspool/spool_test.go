package localspool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/internal/testutil"
)

// holdOne prints doc to the held queue as user and returns its Source id.
func holdOne(t *testing.T, s *Spool, uri, user string, doc []byte, job ...goipp.Attribute) string {
	t.Helper()
	r := printJob(t, uri, user, "quarterly report.pdf", "application/pdf", doc, job...)
	if r.HTTP != 200 || r.Status != goipp.StatusOk {
		t.Fatalf("Print-Job: HTTP %d, %v", r.HTTP, r.Status)
	}
	if st := r.jobInt(t, "job-state"); st != stateHeld {
		t.Fatalf("job-state %d after Print-Job, want 4 (pending-held)", st)
	}
	jobs, err := s.List(t.Context(), s.normalize(user))
	if err != nil || len(jobs) == 0 {
		t.Fatalf("List = %v, %v", jobs, err)
	}
	return jobs[len(jobs)-1].ID
}

// TestEncryptedAtRest: nothing on disk reveals the document, its name or
// its owner; the key file is 0600 and the spool 0700.
func TestEncryptedAtRest(t *testing.T) {
	s := newSpool(t, Config{})
	uri, _ := serve(t, s)
	doc := testdata(t, "gs-12-pages.pdf")
	known := []byte("GPL Ghostscript") // the Producer, in the plaintext
	if !bytes.Contains(doc, known) {
		t.Fatal("the test document lost its known string")
	}
	holdOne(t, s, uri, "alice.w", doc)

	files := spoolFiles(t, s)
	if len(files) != 2 {
		t.Fatalf("spool holds %v, want a document and its metadata", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(s.cfg.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range [][]byte{[]byte("%PDF"), known, []byte("alice.w"), []byte("quarterly")} {
			if bytes.Contains(b, secret) {
				t.Errorf("%s contains %q", f, secret)
			}
		}
		if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
			t.Errorf("%s is not an age file", f)
		}
	}
	if fi, err := os.Stat(s.cfg.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(s.cfg.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	key, _ := os.ReadFile(s.cfg.KeyFile)
	if !bytes.Contains(key, []byte("AGE-SECRET-KEY-1")) {
		t.Errorf("key file is not an age identity:\n%s", key)
	}
}

func TestKeyFileRefusedWhenReadableByOthers(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	s := newSpool(t, Config{Dir: filepath.Join(dir, "spool"), KeyFile: key})
	s.Close()
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Dir: filepath.Join(dir, "spool"), KeyFile: key}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("New with a 0644 key: %v", err)
	}
}

// TestTamperingDetected: a truncated or altered document is an error from
// Read, never a silently short or different document.
func TestTamperingDetected(t *testing.T) {
	doc := testdata(t, "libtasn1.pdf") // several 64 KiB chunks
	if len(doc) < 3*64<<10 {
		t.Fatalf("test document too small: %d bytes", len(doc))
	}
	chunk := int64(64<<10 + 16) // age's plaintext chunk and its tag
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut mid-chunk", func(b []byte) []byte { return b[:len(b)-100] }},
		{"last chunk dropped", func(b []byte) []byte {
			// The payload follows the header's "---" line and a 16-byte
			// nonce; cutting at a chunk boundary leaves only well-formed,
			// authentic chunks, none of them flagged last.
			mac := bytes.Index(b, []byte("\n---"))
			start := int64(mac+1+bytes.IndexByte(b[mac+1:], '\n')+1) + 16
			whole := (int64(len(b)) - start) / chunk
			if (int64(len(b))-start)%chunk == 0 {
				whole--
			}
			return b[:start+whole*chunk]
		}},
		{"one bit flipped", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"empty", func(b []byte) []byte { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpool(t, Config{})
			uri, _ := serve(t, s)
			id := holdOne(t, s, uri, "alice", doc)
			path := s.docPath(id)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			d, err := s.Open(t.Context(), id, "alice")
			if err != nil {
				return // detected at Open: fine
			}
			defer d.Body.Close()
			got, err := io.ReadAll(d.Body)
			if err == nil {
				t.Fatalf("read %d bytes of a damaged document without an error", len(got))
			}
			if tc.name == "last chunk dropped" && len(got) != 4<<16 {
				t.Fatalf("read %d bytes before the error, want the 4 authentic chunks", len(got))
			}
		})
	}
}

// TestRestart: a new Spool over the same directory and key lists the held
// jobs, and job-ids go on from where they were.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: filepath.Join(dir, "spool"), KeyFile: filepath.Join(dir, "key")}
	s := newSpool(t, cfg)
	uri, _ := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	id := holdOne(t, s, uri, "alice", doc, goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(2)),
		goipp.MakeAttr("sides", goipp.TagKeyword, goipp.String("two-sided-long-edge")),
		goipp.MakeAttr("print-color-mode", goipp.TagKeyword, goipp.String("monochrome")))
	before, _ := s.List(t.Context(), "alice")
	s.Close()

	// What a crash leaves behind: an upload in progress, and a document
	// whose metadata was never written.
	os.WriteFile(filepath.Join(cfg.Dir, tmpPrefix+"123"), []byte("partial"), 0o600)
	orphan := filepath.Join(cfg.Dir, newID()+docSuffix)
	os.WriteFile(orphan, []byte("age-encryption.org/v1\n"), 0o600)

	s2 := newSpool(t, cfg)
	after, err := s2.List(t.Context(), "alice")
	if err != nil || len(after) != 1 || !after[0].SubmittedAt.Equal(before[0].SubmittedAt) {
		t.Fatalf("after restart List = %+v, %v; want %+v", after, err, before)
	}
	after[0].SubmittedAt = before[0].SubmittedAt
	if after[0] != before[0] {
		t.Fatalf("after restart List = %+v, %v; want %+v", after, err, before)
	}
	h := after[0]
	if h.ID != id || h.Copies != 2 || !h.Duplex || h.Color || h.Pages != 3 {
		t.Fatalf("held job %+v", h)
	}
	if files := spoolFiles(t, s2); len(files) != 2 {
		t.Fatalf("leftovers not cleared: %v", files)
	}
	d, err := s2.Open(t.Context(), id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d.Body)
	d.Body.Close()
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("document after restart: %d bytes, %v", len(got), err)
	}
	uri2, _ := serve(t, s2)
	r := printJob(t, uri2, "alice", "next", "application/pdf", doc)
	if n := r.jobInt(t, "job-id"); n != 2 {
		t.Fatalf("job-id after restart %d, want 2", n)
	}

	// With another key the jobs cannot be read; they stay on disk for a
	// technician with the right key, and nothing else breaks.
	s2.Close()
	s3 := newSpool(t, Config{Dir: cfg.Dir, KeyFile: filepath.Join(dir, "other-key")})
	if jobs, _ := s3.List(t.Context(), ""); len(jobs) != 0 {
		t.Fatalf("another key lists %+v", jobs)
	}
	if files := spoolFiles(t, s3); len(files) != 4 {
		t.Fatalf("unreadable jobs were removed: %v", files)
	}
}

func TestLimits(t *testing.T) {
	doc := testdata(t, "gs-150-pages.pdf")
	t.Run("MaxJobSize", func(t *testing.T) {
		s := newSpool(t, Config{MaxJobSize: int64(len(doc)) - 1})
		uri, _ := serve(t, s)
		r := printJob(t, uri, "alice", "big", "application/pdf", doc)
		if r.Status != goipp.StatusErrorRequestEntity {
			t.Fatalf("status %v, want client-error-request-entity-too-large", r.Status)
		}
		if files := spoolFiles(t, s); len(files) != 0 {
			t.Fatalf("files kept: %v", files)
		}
		if r := printJob(t, uri, "alice", "small", "application/pdf", testdata(t, "gs-3-pages.pdf")); r.Status != 0 {
			t.Fatalf("a small job after a refused one: %v", r.Status)
		}
	})
	t.Run("Quota", func(t *testing.T) {
		s := newSpool(t, Config{Quota: int64(len(doc)) * 3 / 2})
		uri, _ := serve(t, s)
		holdOne(t, s, uri, "alice", doc)
		used := s.used
		r := printJob(t, uri, "alice", "second", "application/pdf", doc)
		if r.Status != goipp.StatusErrorNotAcceptingJobs {
			t.Fatalf("status %v, want server-error-not-accepting-jobs", r.Status)
		}
		if files := spoolFiles(t, s); len(files) != 2 {
			t.Fatalf("partial upload kept: %v", files)
		}
		if s.used != used || s.inflight != 0 {
			t.Fatalf("accounting: used %d (was %d), inflight %d", s.used, used, s.inflight)
		}
		// Releasing the first job makes room again.
		jobs, _ := s.List(t.Context(), "alice")
		if err := s.Printed(t.Context(), jobs[0].ID, "alice", false); err != nil {
			t.Fatal(err)
		}
		if r := printJob(t, uri, "alice", "third", "application/pdf", doc); r.Status != 0 {
			t.Fatalf("after a release: %v", r.Status)
		}
	})
	t.Run("Reserve", func(t *testing.T) {
		s := newSpool(t, Config{Reserve: 1 << 30})
		var free atomic.Int64
		free.Store(2 << 30)
		s.freeSpace = func() (int64, error) { return free.Load(), nil }
		uri, _ := serve(t, s)
		big := bytes.Repeat([]byte("%PDF-1.4 filler "), 4<<20/16)
		r := printJob(t, uri, "alice", "room enough", "application/pdf", big)
		if r.Status != 0 {
			t.Fatalf("with room: %v", r.Status)
		}
		free.Store(1<<30 + 100)
		r = printJob(t, uri, "alice", "no room", "application/pdf", big)
		if r.Status != goipp.StatusErrorNotAcceptingJobs {
			t.Fatalf("status %v, want server-error-not-accepting-jobs", r.Status)
		}
		if files := spoolFiles(t, s); len(files) != 2 {
			t.Fatalf("spool holds %v", files)
		}
		free.Store(1<<30 - 1)
		res := ippDo(t, nil, uri, ippRequest(goipp.OpGetPrinterAttributes, uri, "alice"), nil)
		if a, _ := res.attr(res.Msg.Printer, "printer-state-reasons"); ippserver.Value(a) != "spool-area-full" {
			t.Errorf("printer-state-reasons %v", a)
		}
		if a, _ := res.attr(res.Msg.Printer, "printer-is-accepting-jobs"); ippserver.Value(a) != "false" {
			t.Errorf("printer-is-accepting-jobs %v", a)
		}
	})
}

// TestReserveWhileStreaming: the free-space check runs during the upload,
// not only before it.
func TestReserveWhileStreaming(t *testing.T) {
	s := newSpool(t, Config{Reserve: 1 << 30})
	var free atomic.Int64
	free.Store(2 << 30)
	var checks atomic.Int64
	s.freeSpace = func() (int64, error) {
		if checks.Add(1) == 3 { // the disk fills during the upload
			free.Store(1<<30 + 100)
		}
		return free.Load(), nil
	}
	_, err := s.receive(bytes.NewReader(bytes.Repeat([]byte("x"), 8<<20)))
	if !errors.Is(err, errSpoolFull) {
		t.Fatalf("receive: %v, want errSpoolFull", err)
	}
	if checks.Load() < 3 {
		t.Fatalf("free space checked %d times", checks.Load())
	}
	if files := spoolFiles(t, s); len(files) != 0 || s.inflight != 0 {
		t.Fatalf("left %v, inflight %d", files, s.inflight)
	}
}

// TestExpiry: the janitor deletes held jobs older than Expiry.
func TestExpiry(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := newSpool(t, Config{Clock: clk})
	uri, _ := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	old := holdOne(t, s, uri, "alice", doc)
	clk.Advance(3 * 24 * time.Hour)
	young := holdOne(t, s, uri, "alice", doc)

	clk.Advance(4*24*time.Hour - time.Second)
	s.sweep()
	if jobs, _ := s.List(t.Context(), "alice"); len(jobs) != 2 {
		t.Fatalf("before 7 days: %+v", jobs)
	}
	// The janitor itself, on its ticker: the first sweep is at once, so
	// the clock moves only once the ticker is armed.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	testutil.WaitFor(t, 5*time.Second, "the janitor's ticker", func() bool { return clk.Timers() > 0 })
	clk.Advance(time.Second)
	clk.Advance(s.janitorEvery)
	testutil.WaitErr(t, 5*time.Second, "the janitor to expire the 7-day-old job", func() error {
		jobs, _ := s.List(t.Context(), "alice")
		if len(jobs) == 1 && jobs[0].ID == young {
			return nil
		}
		return fmt.Errorf("held %+v", jobs)
	})
	cancel()
	<-done
	if _, err := os.Stat(s.docPath(old)); !os.IsNotExist(err) {
		t.Fatalf("expired document still on disk: %v", err)
	}
	// The workstation sees it canceled.
	req := ippRequest(goipp.OpGetJobAttributes, uri, "alice")
	req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(1)))
	r := ippDo(t, nil, uri, req, nil)
	if st := r.jobInt(t, "job-state"); st != stateCanceled {
		t.Fatalf("expired job-state %d", st)
	}
}

// TestExpiryIgnoresAWallClockStep: a job received in this run ages by the
// queue's Clock (monotonic), not by the difference of two readings of Now:
// on a box that started without a real-time clock, Now (the agent's
// clock.Floor) reads the last time it knew until NTP steps it days ahead,
// and a job received meanwhile must not then look days old and be deleted.
func TestExpiryIgnoresAWallClockStep(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	step := time.Duration(0) // how far NTP stepped the wall clock
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clk.Now().Add(step)
	}
	s := newSpool(t, Config{Clock: clk, Now: now})
	uri, _ := serve(t, s)
	holdOne(t, s, uri, "alice", testdata(t, "gs-3-pages.pdf"))
	clk.Advance(time.Minute)
	mu.Lock()
	step = 10 * 24 * time.Hour
	mu.Unlock()
	s.sweep()
	if jobs, _ := s.List(t.Context(), "alice"); len(jobs) != 1 {
		t.Fatal("a job received a minute ago expired when the wall clock was stepped ahead")
	}
	clk.Advance(7 * 24 * time.Hour)
	s.sweep()
	if jobs, _ := s.List(t.Context(), "alice"); len(jobs) != 0 {
		t.Fatal("a job held 7 days did not expire")
	}
}

// TestExpiryWaitsForReaders: a job being printed is not expired under the
// engine's feet.
func TestExpiryWaitsForReaders(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := newSpool(t, Config{Clock: clk, Expiry: time.Hour})
	uri, _ := serve(t, s)
	id := holdOne(t, s, uri, "alice", testdata(t, "gs-3-pages.pdf"))
	d, err := s.Open(t.Context(), id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	s.sweep()
	if jobs, _ := s.List(t.Context(), "alice"); len(jobs) != 1 {
		t.Fatal("expired while open")
	}
	d.Body.Close()
	s.sweep()
	if jobs, _ := s.List(t.Context(), "alice"); len(jobs) != 0 {
		t.Fatal("not expired once closed")
	}
}

func TestSourceOwnership(t *testing.T) {
	s := newSpool(t, Config{Normalize: func(u string) string {
		u = strings.ToLower(u)
		if _, after, ok := strings.Cut(u, `\`); ok {
			u = after
		}
		return u
	}})
	uri, _ := serve(t, s)
	id := holdOne(t, s, uri, `CORP\Alice`, testdata(t, "gs-3-pages.pdf"))
	ctx := t.Context()
	jobs, _ := s.List(ctx, "alice")
	if len(jobs) != 1 || jobs[0].Owner != `CORP\Alice` {
		t.Fatalf("List(alice) = %+v", jobs)
	}
	if jobs, _ := s.List(ctx, "bob"); len(jobs) != 0 {
		t.Fatalf("List(bob) = %+v", jobs)
	}
	if all, _ := s.List(ctx, ""); len(all) != 1 {
		t.Fatalf("List(\"\") = %+v", all)
	}
	for name, err := range map[string]error{
		"Open":    func() error { _, err := s.Open(ctx, id, "bob"); return err }(),
		"Printed": s.Printed(ctx, id, "bob", false),
		"Delete":  s.Delete(ctx, id, "bob"),
		"unknown": s.Delete(ctx, "../../etc/passwd", "alice"),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s by another user: %v", name, err)
		}
	}
	// Print-and-keep leaves it held; Delete removes it.
	if err := s.Printed(ctx, id, "alice", true); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := s.List(ctx, "alice"); len(jobs) != 1 {
		t.Fatal("print-and-keep removed the job")
	}
	if err := s.Delete(ctx, id, "alice"); err != nil {
		t.Fatal(err)
	}
	if files := spoolFiles(t, s); len(files) != 0 {
		t.Fatalf("Delete left %v", files)
	}
	if err := s.Delete(ctx, id, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if s.Name() != "local" {
		t.Fatal(s.Name())
	}
}
