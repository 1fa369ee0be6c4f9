package localspool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/release"
)

// ippFrom serves req (and doc after it) on h as sent from remote
// ("IP:port"), with Basic credentials when basic holds a user and a
// password.
func ippFrom(t testing.TB, h http.Handler, remote string, req *goipp.Message, doc []byte, basic ...string) ippResult {
	t.Helper()
	b, err := req.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	hr := httptest.NewRequest(http.MethodPost, "/ipp/print", bytes.NewReader(append(b, doc...)))
	hr.RemoteAddr = remote
	hr.Header.Set("Content-Type", goipp.ContentType)
	if len(basic) == 2 {
		hr.SetBasicAuth(basic[0], basic[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	if rec.Code != http.StatusOK {
		return ippResult{HTTP: rec.Code}
	}
	var m goipp.Message
	if err := m.DecodeBytes(rec.Body.Bytes()); err != nil {
		t.Fatalf("undecodable response: %v", err)
	}
	return ippResult{HTTP: rec.Code, Status: goipp.Status(m.Code), Msg: &m}
}

const testURI = "ipp://agent.lan/ipp/print"

func jobOp(op goipp.Op, user string, id int) *goipp.Message {
	req := ippRequest(op, testURI, user)
	req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
	return req
}

func printReq(user string) *goipp.Message {
	req := ippRequest(goipp.OpPrintJob, testURI, user)
	req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
	return req
}

// jobsListed is how many jobs a Get-Jobs (which-jobs=all) lists.
func jobsListed(t testing.TB, h http.Handler, remote, user string, basic ...string) int {
	t.Helper()
	req := ippRequest(goipp.OpGetJobs, testURI, user)
	req.Operation.Add(goipp.MakeAttr("which-jobs", goipp.TagKeyword, goipp.String("all")))
	r := ippFrom(t, h, remote, req, nil, basic...)
	if r.Status != goipp.StatusOk {
		t.Fatalf("Get-Jobs from %s as %s: HTTP %d, %v", remote, user, r.HTTP, r.Status)
	}
	return len(r.Msg.Job) / 2 // job-id and job-uri per job
}

// TestJobsBoundToSubmitterAddress: without authentication,
// requesting-user-name is whatever a workstation says, so a job's details,
// its cancellation and its document are for the address that submitted
// it (under the same name); another workstation naming the owner sees and
// cancels nothing, also after a restart. An operator's name counts only
// when authenticated.
func TestJobsBoundToSubmitterAddress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	cfg := Config{Dir: dir, Operator: func(u string) bool { return u == "root" }}
	s := newSpool(t, cfg)
	h := s.Handler()
	doc := testdata(t, "gs-3-pages.pdf")
	const alicePC, otherPC, alicePCv6 = "10.0.0.1:50000", "10.0.0.2:50001", "[::ffff:10.0.0.1]:50002"
	if r := ippFrom(t, h, alicePC, printReq("alice"), doc); r.Status != goipp.StatusOk {
		t.Fatalf("Print-Job: %v", r.Status)
	}
	check := func(s *Spool, when string) {
		t.Helper()
		h := s.Handler()
		for _, tc := range []struct{ remote, user string }{{otherPC, "alice"}, {alicePC, "bob"}, {otherPC, "root"}} {
			if st := ippFrom(t, h, tc.remote, jobOp(goipp.OpGetJobAttributes, tc.user, 1), nil).Status; st == goipp.StatusOk {
				t.Errorf("%s: Get-Job-Attributes from %s as %s succeeded", when, tc.remote, tc.user)
			}
			if n := jobsListed(t, h, tc.remote, tc.user); n != 0 {
				t.Errorf("%s: Get-Jobs from %s as %s lists %d jobs", when, tc.remote, tc.user, n)
			}
			if st := ippFrom(t, h, tc.remote, jobOp(goipp.OpCancelJob, tc.user, 1), nil).Status; st == goipp.StatusOk {
				t.Errorf("%s: Cancel-Job from %s as %s succeeded", when, tc.remote, tc.user)
			}
		}
		for _, remote := range []string{alicePC, alicePCv6} {
			if st := ippFrom(t, h, remote, jobOp(goipp.OpGetJobAttributes, "alice", 1), nil).Status; st != goipp.StatusOk {
				t.Errorf("%s: Get-Job-Attributes from %s as alice: %v", when, remote, st)
			}
			if n := jobsListed(t, h, remote, "alice"); n != 1 {
				t.Errorf("%s: Get-Jobs from %s as alice lists %d jobs, want 1", when, remote, n)
			}
		}
	}
	check(s, "held")
	s.Close()
	s2 := newSpool(t, cfg)
	check(s2, "after a restart")
	h2 := s2.Handler()
	if st := ippFrom(t, h2, alicePC, jobOp(goipp.OpCancelJob, "alice", 1), nil).Status; st != goipp.StatusOk {
		t.Fatalf("Cancel-Job by its submitter: %v", st)
	}

	// A Create-Job's document comes from the workstation that created it.
	req := ippRequest(goipp.OpCreateJob, testURI, "alice")
	r := ippFrom(t, h2, alicePC, req, nil)
	if r.Status != goipp.StatusOk {
		t.Fatalf("Create-Job: %v", r.Status)
	}
	id := r.jobInt(t, "job-id")
	send := jobOp(goipp.OpSendDocument, "alice", id)
	send.Operation.Add(goipp.MakeAttr("last-document", goipp.TagBoolean, goipp.Boolean(true)))
	if st := ippFrom(t, h2, otherPC, send, doc).Status; st == goipp.StatusOk {
		t.Errorf("Send-Document from another workstation was taken")
	}
	if st := ippFrom(t, h2, alicePC, send, doc).Status; st != goipp.StatusOk {
		t.Errorf("Send-Document from the creating workstation: %v", st)
	}
}

// TestAuthenticatedJobsFollowTheUser: with authentication the user, not
// the address, owns the job: its owner sees it from another workstation.
func TestAuthenticatedJobsFollowTheUser(t *testing.T) {
	s := newSpool(t, Config{Users: func(ctx context.Context, u, p string) error {
		if p == "pw" {
			return nil
		}
		return ErrBadCredentials
	}})
	h := s.Handler()
	if r := ippFrom(t, h, "10.0.0.1:1", printReq("x"), testdata(t, "gs-3-pages.pdf"), "carol", "pw"); r.Status != goipp.StatusOk {
		t.Fatalf("Print-Job: HTTP %d %v", r.HTTP, r.Status)
	}
	if n := jobsListed(t, h, "10.0.0.2:1", "x", "carol", "pw"); n != 1 {
		t.Errorf("carol from another workstation lists %d jobs", n)
	}
	if n := jobsListed(t, h, "10.0.0.1:1", "carol", "dave", "pw"); n != 0 {
		t.Errorf("dave from carol's workstation lists %d jobs", n)
	}
}

// TestBasicAuthSuccessCached: a workstation polls job states with its
// credentials every few seconds, and each check at the hub is an argon2id:
// a success is remembered for a minute (on the spool's clock); a failure
// never is.
func TestBasicAuthSuccessCached(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	calls := 0
	s := newSpool(t, Config{Clock: clk, Users: func(ctx context.Context, u, p string) error {
		mu.Lock()
		calls++
		mu.Unlock()
		if u == "carol" && p == "pw" {
			return nil
		}
		return ErrBadCredentials
	}})
	h := s.Handler()
	count := func() int { mu.Lock(); defer mu.Unlock(); return calls }
	for range 5 {
		jobsListed(t, h, "10.0.0.1:1", "", "carol", "pw")
	}
	if n := count(); n != 1 {
		t.Fatalf("5 polls with the same credentials asked %d times, want 1", n)
	}
	for range 3 {
		if r := ippFrom(t, h, "10.0.0.1:1", ippRequest(goipp.OpGetJobs, testURI, ""), nil, "carol", "wrong"); r.HTTP != http.StatusUnauthorized {
			t.Fatalf("wrong password: HTTP %d", r.HTTP)
		}
	}
	if n := count(); n != 4 {
		t.Fatalf("3 wrong passwords asked %d times in all, want 4: failures are not cached", n)
	}
	clk.Advance(authCacheTTL + time.Second)
	jobsListed(t, h, "10.0.0.1:1", "", "carol", "pw")
	if n := count(); n != 5 {
		t.Fatalf("after the cache time, asked %d times in all, want 5", n)
	}
}

// TestAuthUnavailable: when the credentials cannot be checked (the hub is
// unreachable), the answer is 503, not a password prompt.
func TestAuthUnavailable(t *testing.T) {
	s := newSpool(t, Config{Users: func(ctx context.Context, u, p string) error {
		return errors.Join(ErrAuthUnavailable, errors.New("hub offline"))
	}})
	r := ippFrom(t, s.Handler(), "10.0.0.1:1", ippRequest(goipp.OpGetJobs, testURI, ""), nil, "carol", "pw")
	if r.HTTP != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d, want 503", r.HTTP)
	}
}

// TestAuthFailureLogsNoTypedName: what is typed as a user name is
// sometimes a password, so a refused login is logged without it.
func TestAuthFailureLogsNoTypedName(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newSpool(t, Config{Logger: log, Users: func(ctx context.Context, u, p string) error { return ErrBadCredentials }})
	const typed = "Tr0ub4dor&3-typed-as-a-name"
	if r := ippFrom(t, s.Handler(), "10.0.0.1:1", printReq(""), testdata(t, "gs-3-pages.pdf"), typed, "x"); r.HTTP != http.StatusUnauthorized {
		t.Fatalf("HTTP %d", r.HTTP)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(buf.String(), "Tr0ub4dor") {
		t.Fatalf("the log shows the typed user name:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "IPP authentication failed") {
		t.Fatalf("the refusal is not logged:\n%s", buf.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStalledBodyIsCut: a Print-Job whose document stops arriving is cut
// once BodyTimeout passes without a byte (a stalled body was held for good
// before), and nothing of it is kept.
func TestStalledBodyIsCut(t *testing.T) {
	s := newSpool(t, Config{BodyTimeout: 200 * time.Millisecond})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	attrs, err := printReq("alice").EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	head := "POST /ipp/print HTTP/1.1\r\nHost: agent.lan\r\nContent-Type: application/ipp\r\n" +
		"Content-Length: 1000000\r\n\r\n"
	if _, err := conn.Write(append(append([]byte(head), attrs...), "%PDF-1.4\n"...)); err != nil {
		t.Fatal(err)
	}
	// The guard only keeps a broken server from hanging the test; it is
	// fifty times the body timeout.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stalled request is still held: %v", err)
	}
	if err == nil {
		resp.Body.Close()
	}
	testutil.WaitFor(t, 10*time.Second, "the stalled job forgotten", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.jobs) == 0 && s.inflight == 0
	})
	for _, f := range spoolFiles(t, s) {
		if strings.HasPrefix(f, tmpPrefix) {
			t.Errorf("left behind: %s", f)
		}
	}
}

// TestDirectFailureSaysNothingInternal: a direct job that fails tells the
// workstation why in words when the engine has words for it (the printer
// is not ready), and nothing of an internal error, which stays in the log.
func TestDirectFailureSaysNothingInternal(t *testing.T) {
	s := newSpool(t, Config{Direct: func(ctx context.Context, j DirectJob) (int, error) {
		_, _ = io.Copy(io.Discard, j.Body)
		if j.Name == "jam" {
			return 0, &release.NotReady{Reason: "There is a paper jam."}
		}
		return 0, errors.New("open journal: sqlite3: disk I/O error at /var/lib/tessera/tessera.db")
	}})
	_, uri := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	for _, tc := range []struct{ name, want, hidden string }{
		{"internal", "Printing failed", "sqlite3"},
		{"jam", "There is a paper jam.", "printer not ready"},
	} {
		r := printJob(t, uri, "alice", tc.name, "application/pdf", doc)
		if r.Status != goipp.StatusOk {
			t.Fatalf("Print-Job: %v", r.Status)
		}
		req := jobOp(goipp.OpGetJobAttributes, "alice", r.jobInt(t, "job-id"))
		var msg string
		testutil.WaitErr(t, 5*time.Second, "the job aborted", func() error {
			r := ippDo(t, nil, uri, req, nil)
			if st := r.jobInt(t, "job-state"); st != stateAborted {
				return fmt.Errorf("job-state %d", st)
			}
			a, _ := r.attr(r.Msg.Job, "job-state-message")
			msg = ippserver.Value(a)
			return nil
		})
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, tc.hidden) {
			t.Errorf("%s: job-state-message %q, want %q and not %q", tc.name, msg, tc.want, tc.hidden)
		}
	}
}
