package cupssource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/loopback"
	"github.com/tessera-print/tessera/release"
)

// Config wires a Source.
type Config struct {
	// URL is the held queue: ipp://HOST:PORT/printers/QUEUE, or ipps://
	// for TLS. Without a port, 631.
	URL string
	// Operator is the CUPS user the agent acts as: a member of CUPS's
	// SystemGroup, or root when cupsd has DefaultAuthType None.
	Operator string
	// Password authenticates Operator with HTTP Basic; "" sends none
	// (DefaultAuthType None). The caller reads it from a file, never from
	// a command line.
	Password string
	// HTTPClient, if nil, is a client that verifies TLS.
	HTTPClient *http.Client
	// SameUser reports whether a CUPS job owner (its
	// job-originating-user-name) is the user the engine asks about. Nil
	// compares them as given; the engine may pass its name normalisation.
	SameUser func(owner, username string) bool
	// Claimer claims each job across every agent that releases from the
	// same queue before its document is handed to the release, so that it
	// prints at one printer only. Nil: no claim, which is safe only when this agent is
	// the queue's only releaser (the agent's cups_exclusive).
	Claimer Claimer
	Logger  *slog.Logger
}

// Claimer claims a CUPS job for this agent across agents (the agent's
// link to the hub: ClaimJob; the claim ends with the attempt's final
// status, through the agent's outbox).
type Claimer interface {
	// Claim claims the job named key and returns the claim, which the
	// release keeps with its attempt (release.Document.Claim) and ends
	// when the attempt settles. An error matching ErrClaimed: another
	// agent holds the job; any other error: the claim could not be made.
	Claim(ctx context.Context, key string) (string, error)
}

// Errors a Source returns; match them with errors.Is.
var (
	// ErrNotFound is a job CUPS does not have (any more), one that belongs
	// to another user, or one on another queue.
	ErrNotFound = errors.New("cups job not found")
	// ErrNotHeld is a job that CUPS no longer holds (released within
	// CUPS, printing, or finished): the agent must not print it too.
	ErrNotHeld = errors.New("cups job is not held")
	// ErrUnauthorized is CUPS refusing the operator; the error carrying
	// it is an *AuthError that says what to check.
	ErrUnauthorized = errors.New("cups refused the operator")
	// ErrClaimed is a job another agent claimed: it is being printed at
	// another printer, or was.
	ErrClaimed = errors.New("cups job is claimed by another agent")
	// ErrNoClaim is a job that could not be claimed (the hub unreachable):
	// without a claim, another agent could print it at the same time.
	ErrNoClaim = errors.New("cups job could not be claimed")
)

// Words for the person at the printer, carried as a *release.NotReady.
const (
	msgClaimed = "This job is being printed at another printer, or was."
	msgNoClaim = "This job cannot be released here now: the other printers of this print server " +
		"cannot be checked while the cloud is unreachable. Try again later."
)

// AuthError is CUPS refusing the operator (HTTP 401/403, or an IPP
// forbidden / not-authenticated / not-authorized status).
type AuthError struct {
	Operator string
	Basic    bool   // a password was sent
	Status   string // "HTTP 401", "client-error-forbidden", ...
	Op       string
}

func (e *AuthError) Error() string {
	if e.Basic {
		return fmt.Sprintf("%s: CUPS refused operator %q (%s): check the operator's password and that %q is in CUPS's SystemGroup",
			e.Op, e.Operator, e.Status, e.Operator)
	}
	return fmt.Sprintf("%s: CUPS refused operator %q without a password (%s): either give the operator's password (Basic authentication), or run cupsd with DefaultAuthType None and an operator that is root or in its SystemGroup",
		e.Op, e.Operator, e.Status)
}

func (e *AuthError) Unwrap() error { return ErrUnauthorized }

// StatusError is an IPP error status from CUPS.
type StatusError struct {
	Op      string
	Status  goipp.Status
	Message string // CUPS's status-message, bounded
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s: %s: %s", e.Op, e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Op, e.Status)
}

// Unwrap makes client-error-not-found an ErrNotFound.
func (e *StatusError) Unwrap() error {
	if e.Status == goipp.StatusErrorNotFound {
		return ErrNotFound
	}
	return nil
}

// Source is a CUPS held queue as a release.Source. It is safe for
// concurrent use.
type Source struct {
	cfg        Config
	endpoint   string // http(s)://HOST:PORT/PATH
	printerURI string
	queuePath  string
	client     *http.Client
	log        *slog.Logger
	requestID  atomic.Uint32
	// verified is set once CUPS-Get-Document has succeeded with the
	// operator's password (see All), and cleared when CUPS refuses it.
	verified atomic.Bool
}

var _ release.Source = (*Source)(nil)

// New checks cfg and returns a Source. It does not contact CUPS.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("cups url: %w", err)
	}
	var scheme string
	switch u.Scheme {
	case "ipp":
		scheme = "http"
	case "ipps":
		scheme = "https"
	default:
		return nil, fmt.Errorf("cups url %q: the scheme must be ipp or ipps", cfg.URL)
	}
	if u.Hostname() == "" || u.Path == "" || u.Path == "/" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("cups url %q: want ipp://HOST[:PORT]/printers/QUEUE", cfg.URL)
	}
	if cfg.Operator == "" {
		return nil, errors.New("cups: no operator user configured")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "631")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SameUser == nil {
		cfg.SameUser = func(owner, username string) bool { return owner == username }
	}
	client := cfg.HTTPClient
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Only the headers are bounded in time: a document streams for as
		// long as the printer takes it, under the caller's context.
		t.ResponseHeaderTimeout = time.Minute
		client = &http.Client{Transport: t}
	}
	s := &Source{
		cfg:        cfg,
		endpoint:   (&url.URL{Scheme: scheme, Host: host, Path: u.Path}).String(),
		printerURI: (&url.URL{Scheme: u.Scheme, Host: host, Path: u.Path}).String(),
		queuePath:  u.Path,
		client:     client,
		log:        cfg.Logger.With("source", "cups", "queue", u.Path),
	}
	if cfg.Claimer == nil {
		s.log.Warn("CUPS jobs are released without a claim across agents: no other agent may release from this queue (cups_exclusive)")
	}
	if cfg.Password != "" && scheme == "http" && !loopback.Host(u.Hostname()) {
		s.log.Warn("the CUPS operator's password travels unencrypted; use ipps://", "host", u.Hostname())
	}
	return s, nil
}

// Name is the source's prefix in job ids.
func (s *Source) Name() string { return "cups" }

// statePendingHeld is job-state pending-held (RFC 8011 §5.3.7).
const statePendingHeld = 4

// listAttributes are what List asks CUPS for, per job.
var listAttributes = []string{
	"job-id", "job-state", "job-name", "job-originating-user-name", "copies",
	"job-impressions", "job-media-sheets", "document-format", "document-format-detected",
	"document-format-supplied", "job-k-octets", "time-at-creation", "print-color-mode", "sides",
}

// List returns username's held jobs on the queue.
func (s *Source) List(ctx context.Context, username string) ([]release.Held, error) {
	all, err := s.All(ctx)
	if err != nil {
		return nil, err
	}
	var mine []release.Held
	for _, h := range all {
		if s.cfg.SameUser(h.Owner, username) {
			mine = append(mine, h)
		}
	}
	return mine, nil
}

// All returns every held job on the queue, whoever owns it (Owner is
// CUPS's job-originating-user-name, as CUPS has it).
func (s *Source) All(ctx context.Context) ([]release.Held, error) {
	const op = "Get-Jobs"
	req := s.request(goipp.OpGetJobs)
	req.Operation.Add(goipp.MakeAttribute("my-jobs", goipp.TagBoolean, goipp.Boolean(false)))
	req.Operation.Add(goipp.MakeAttribute("which-jobs", goipp.TagKeyword, goipp.String("not-completed")))
	ra := goipp.Attribute{Name: "requested-attributes"}
	for _, n := range listAttributes {
		ra.Values.Add(goipp.TagKeyword, goipp.String(n))
	}
	req.Operation.Add(ra)
	resp, err := s.exchange(ctx, op, req, maxListAttrs)
	if err != nil {
		return nil, fmt.Errorf("list held jobs: %w", err)
	}
	resp.close()

	var held []release.Held
	for _, g := range resp.msg.Groups {
		if g.Tag != goipp.TagJobGroup {
			continue
		}
		h, ok, err := s.held(g.Attrs)
		if err != nil {
			return nil, fmt.Errorf("list held jobs: %w", err)
		}
		if ok {
			held = append(held, h)
		}
	}
	if s.cfg.Password != "" && !s.verified.Load() && len(held) > 0 {
		if err := s.verify(ctx, held[0].ID); err != nil {
			return nil, fmt.Errorf("list held jobs: %w", err)
		}
	}
	return held, nil
}

// verify makes sure that CUPS accepts the operator's password before the
// panel shows jobs that could then not be opened. cupsd does not refuse a
// failed Basic login as such: it carries on without a user, and only the
// operations its policy protects (CUPS-Get-Document in the stock policy)
// answer 401, while Get-Jobs, and even Cancel-Job for a SystemGroup
// member named in requesting-user-name, succeed. So the first listing
// opens one held document, reads its attributes and hangs up.
func (s *Source) verify(ctx context.Context, id string) error {
	jobID, err := strconv.Atoi(id)
	if err != nil {
		return fmt.Errorf("%w: not a CUPS job id", ErrNotFound)
	}
	resp, err := s.exchange(ctx, "CUPS-Get-Document", s.getDocument(jobID), maxOpAttrs)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // purged meanwhile: the next listing tries again
	case err != nil:
		return err
	}
	resp.Close()
	s.verified.Store(true)
	return nil
}

func (s *Source) getDocument(jobID int) *goipp.Message {
	req := s.request(goipp.OpCupsGetDocument)
	req.Operation.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(jobID)))
	req.Operation.Add(goipp.MakeAttribute("document-number", goipp.TagInteger, goipp.Integer(1)))
	return req
}

// held turns one Get-Jobs job group into a Held, if the job is held.
func (s *Source) held(a goipp.Attributes) (release.Held, bool, error) {
	id, ok := intAttr(a, "job-id")
	if !ok || id <= 0 {
		return release.Held{}, false, nil
	}
	if st, _ := intAttr(a, "job-state"); st != statePendingHeld {
		return release.Held{}, false, nil
	}
	owner := stringAttr(a, "job-originating-user-name")
	if owner == "" {
		// CUPS leaves out private values (JobPrivateValues) for a user
		// who may not see them: listing nobody's jobs would hide that.
		return release.Held{}, false, &AuthError{Operator: s.cfg.Operator, Basic: s.cfg.Password != "",
			Status: fmt.Sprintf("the owner of job %d is hidden", id), Op: "Get-Jobs"}
	}
	h := release.Held{
		ID:     strconv.Itoa(id),
		Name:   stringAttr(a, "job-name"),
		Owner:  owner,
		Copies: 1,
		Format: format(a),
		Size:   -1,
	}
	if n, ok := intAttr(a, "job-impressions"); ok && n > 0 {
		h.Pages = n
	} else if n, ok := intAttr(a, "job-media-sheets"); ok && n > 0 {
		h.Pages = n
	}
	if n, ok := intAttr(a, "copies"); ok && n > 0 {
		h.Copies = n
	}
	if k, ok := intAttr(a, "job-k-octets"); ok && k >= 0 {
		h.Size = int64(k) * 1024
	}
	if t, ok := intAttr(a, "time-at-creation"); ok && t > 0 {
		h.SubmittedAt = time.Unix(int64(t), 0).UTC()
	}
	switch stringAttr(a, "print-color-mode") {
	case "color", "auto", "highlight":
		h.Color = true
	}
	if sides := stringAttr(a, "sides"); sides != "" && sides != "one-sided" {
		h.Duplex = true
	}
	return h, true, nil
}

// format is a job's document format: CUPS's own typing first, since lp
// and many drivers submit application/octet-stream.
func format(a goipp.Attributes) string {
	for _, n := range []string{"document-format", "document-format-detected", "document-format-supplied"} {
		if f := stringAttr(a, n); f != "" && f != "application/octet-stream" {
			return f
		}
	}
	return "application/octet-stream"
}

// Open streams a held job's original document (CUPS-Get-Document). The
// document is never read into memory: Body is the rest of CUPS's HTTP
// answer after the IPP attributes. Size is exact when CUPS sends a
// Content-Length (cupsd does for Get-Document), -1 otherwise, and -1 for
// a job CUPS stored gzip-compressed (submitted with compression=gzip),
// which Body decompresses.
func (s *Source) Open(ctx context.Context, id, username string) (*release.Document, error) {
	job, err := s.check(ctx, id, username, true)
	if err != nil {
		return nil, fmt.Errorf("open cups job %s: %w", id, err)
	}
	resp, err := s.exchange(ctx, "CUPS-Get-Document", s.getDocument(job.id), maxOpAttrs)
	if err != nil {
		return nil, fmt.Errorf("open cups job %s: %w", id, err)
	}
	if s.cfg.Password != "" {
		s.verified.Store(true)
	}
	doc := &release.Document{Format: format(resp.msg.Job), Size: -1, Body: resp}
	if n := resp.http.ContentLength; n >= 0 {
		doc.Size = n - int64(resp.attrLen)
		if doc.Size < 0 {
			resp.close()
			return nil, fmt.Errorf("open cups job %s: %w: Content-Length %d is shorter than the attributes", id, errMalformed, n)
		}
	}
	if magic, _ := resp.body.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) && !strings.Contains(doc.Format, "gzip") {
		zr, err := gzip.NewReader(resp.body)
		if err != nil {
			resp.close()
			return nil, fmt.Errorf("open cups job %s: compressed document: %w", id, err)
		}
		doc.Body = &gzipBody{zr: zr, resp: resp}
		doc.Size = -1
	}
	// The claim comes last, once nothing here can fail: a claim made for a
	// document that then could not be opened would have no attempt status
	// to end it, and would keep the job from every other printer.
	if doc.Claim, err = s.claim(ctx, job); err != nil {
		doc.Body.Close()
		return nil, fmt.Errorf("open cups job %s: %w", id, err)
	}
	s.log.Debug("opened held job", "job", id, "format", doc.Format, "size", doc.Size)
	return doc, nil
}

// claim claims job across agents before its document is handed over. Refused
// (another agent has it) or impossible (the hub unreachable), the release
// is refused with words for the person; without a Claimer there is
// nothing to claim.
func (s *Source) claim(ctx context.Context, job jobRef) (string, error) {
	if s.cfg.Claimer == nil {
		return "", nil
	}
	claim, err := s.cfg.Claimer.Claim(ctx, job.claimKey)
	switch {
	case errors.Is(err, ErrClaimed):
		s.log.Info("job claimed by another agent; not released here", "job", job.id)
		return "", fmt.Errorf("%w: %w", err, &release.NotReady{Reason: msgClaimed, Code: "claimed-elsewhere"})
	case err != nil:
		s.log.Warn("job could not be claimed; not released", "job", job.id, "err", err)
		return "", fmt.Errorf("%w: %w: %w", ErrNoClaim, err, &release.NotReady{Reason: msgNoClaim, Code: "no-claim"})
	case claim == "":
		return "", fmt.Errorf("%w: the claim is empty", ErrNoClaim)
	}
	return claim, nil
}

// Printed purges a printed job from CUPS, unless keep (print-and-keep):
// then the job stays held there, as it was.
func (s *Source) Printed(ctx context.Context, id, username string, keep bool) error {
	if keep {
		if _, err := s.check(ctx, id, username, false); err != nil {
			return fmt.Errorf("keep cups job %s: %w", id, err)
		}
		return nil
	}
	if err := s.purge(ctx, id, username); err != nil {
		return fmt.Errorf("purge printed cups job %s: %w", id, err)
	}
	return nil
}

// Delete purges a held job at its owner's request.
func (s *Source) Delete(ctx context.Context, id, username string) error {
	if err := s.purge(ctx, id, username); err != nil {
		return fmt.Errorf("delete cups job %s: %w", id, err)
	}
	return nil
}

// purge removes a job and its files from CUPS: Cancel-Job with
// purge-job=true (a plain cancel would leave it in the job history).
func (s *Source) purge(ctx context.Context, id, username string) error {
	job, err := s.check(ctx, id, username, false)
	if err != nil {
		return err
	}
	req := s.request(goipp.OpCancelJob)
	req.Operation.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(job.id)))
	req.Operation.Add(goipp.MakeAttribute("purge-job", goipp.TagBoolean, goipp.Boolean(true)))
	resp, err := s.exchange(ctx, "Cancel-Job", req, maxOpAttrs)
	if err != nil {
		return err
	}
	resp.close()
	s.log.Info("purged job", "job", id)
	return nil
}

// check makes sure job id exists on this queue and belongs to username
// (the operator may act on anyone's job, so the agent must refuse for
// CUPS), and, if held, that CUPS still holds it.
func (s *Source) check(ctx context.Context, id, username string, held bool) (jobRef, error) {
	jobID, err := strconv.ParseUint(id, 10, 31)
	if err != nil || jobID == 0 {
		return jobRef{}, fmt.Errorf("%w: not a CUPS job id", ErrNotFound)
	}
	req := s.request(goipp.OpGetJobAttributes)
	req.Operation.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(jobID)))
	ra := goipp.Attribute{Name: "requested-attributes"}
	for _, n := range []string{"job-id", "job-state", "job-originating-user-name", "job-printer-uri",
		"job-uuid", "time-at-creation"} {
		ra.Values.Add(goipp.TagKeyword, goipp.String(n))
	}
	req.Operation.Add(ra)
	resp, err := s.exchange(ctx, "Get-Job-Attributes", req, maxOpAttrs)
	if err != nil {
		return jobRef{}, err
	}
	resp.close()
	a := resp.msg.Job
	owner := stringAttr(a, "job-originating-user-name")
	if owner == "" {
		return jobRef{}, &AuthError{Operator: s.cfg.Operator, Basic: s.cfg.Password != "",
			Status: "the job's owner is hidden", Op: "Get-Job-Attributes"}
	}
	// Another user's job, or a job on another queue, is "not found": the
	// panel must not learn that it exists.
	if !s.cfg.SameUser(owner, username) {
		return jobRef{}, ErrNotFound
	}
	if pu, err := url.Parse(stringAttr(a, "job-printer-uri")); err != nil || pu.Path != s.queuePath {
		return jobRef{}, ErrNotFound
	}
	state, _ := intAttr(a, "job-state")
	if held && state != statePendingHeld {
		return jobRef{}, fmt.Errorf("%w (job-state %d)", ErrNotHeld, state)
	}
	return jobRef{id: int(jobID), claimKey: s.claimKey(a, int(jobID))}, nil
}

// jobRef is a job check found: its id, and the key that names it across
// agents and time for a claim.
type jobRef struct {
	id       int
	claimKey string
}

// claimKey names a job for ClaimJob. CUPS's job-uuid is unique across
// servers and time, whatever name each agent reaches the server by; a CUPS
// without one gets "cups:" + queue URI + "#" + job id + "@" +
// time-at-creation (ids start over when CUPS's job history is cleared).
func (s *Source) claimKey(a goipp.Attributes, id int) string {
	if u := stringAttr(a, "job-uuid"); strings.HasPrefix(u, "urn:uuid:") {
		return "cups:" + u
	}
	created, _ := intAttr(a, "time-at-creation")
	return "cups:" + s.printerURI + "#" + strconv.Itoa(id) + "@" + strconv.Itoa(created)
}

// request starts an IPP request to the queue as the operator.
func (s *Source) request(op goipp.Op) *goipp.Message {
	// request-id must lie in 1..2^31-1.
	m := goipp.NewRequest(goipp.DefaultVersion, op, s.requestID.Add(1)%0x7fffffff+1)
	m.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	m.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	m.Operation.Add(goipp.MakeAttribute("printer-uri", goipp.TagURI, goipp.String(s.printerURI)))
	m.Operation.Add(goipp.MakeAttribute("requesting-user-name", goipp.TagName, goipp.String(s.cfg.Operator)))
	return m
}

// response is CUPS's answer: its decoded attributes, and the rest of the
// HTTP body (a document, for Get-Document) unread.
type response struct {
	msg     *goipp.Message
	attrLen int
	http    *http.Response
	body    *bufio.Reader
}

func (r *response) Read(p []byte) (int, error) { return r.body.Read(p) }

// Close ends the exchange; the connection is reused only if the body was
// read to its end.
func (r *response) Close() error { return r.http.Body.Close() }

// close ends an exchange whose body holds nothing more of interest,
// reading a little of what is left so the connection can be reused.
func (r *response) close() {
	io.Copy(io.Discard, io.LimitReader(r.body, 4096))
	r.http.Body.Close()
}

// gzipBody decompresses a document CUPS stored compressed.
type gzipBody struct {
	zr   *gzip.Reader
	resp *response
}

func (g *gzipBody) Read(p []byte) (int, error) { return g.zr.Read(p) }

func (g *gzipBody) Close() error {
	g.zr.Close()
	return g.resp.Close()
}

// exchange sends req and decodes the answer's attributes (at most limit
// bytes); an IPP error status becomes an error. On success the caller
// owns the response and must close it.
func (s *Source) exchange(ctx context.Context, op string, req *goipp.Message, limit int) (*response, error) {
	body, err := req.EncodeBytes()
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", op, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	hreq.Header.Set("Content-Type", goipp.ContentType)
	// A transparently decompressed answer would lose its length, and
	// gains nothing on a document that is usually compressed already.
	hreq.Header.Set("Accept-Encoding", "identity")
	if s.cfg.Password != "" {
		hreq.SetBasicAuth(s.cfg.Operator, s.cfg.Password)
	}
	start := time.Now()
	hresp, err := s.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case hresp.StatusCode == http.StatusUnauthorized || hresp.StatusCode == http.StatusForbidden:
		discard(hresp)
		s.verified.Store(false)
		return nil, &AuthError{Operator: s.cfg.Operator, Basic: s.cfg.Password != "", Status: "HTTP " + strconv.Itoa(hresp.StatusCode), Op: op}
	case hresp.StatusCode == http.StatusUpgradeRequired:
		discard(hresp)
		return nil, fmt.Errorf("%s: CUPS requires encryption (HTTP 426, DefaultEncryption Required): use an ipps:// URL", op)
	case hresp.StatusCode != http.StatusOK:
		discard(hresp)
		return nil, fmt.Errorf("%s: CUPS answered HTTP %d", op, hresp.StatusCode)
	}
	if ct, _, _ := mime.ParseMediaType(hresp.Header.Get("Content-Type")); ct != goipp.ContentType {
		discard(hresp)
		return nil, fmt.Errorf("%s: %w: Content-Type %q", op, errMalformed, bounded(hresp.Header.Get("Content-Type")))
	}
	br := bufio.NewReaderSize(hresp.Body, 32<<10)
	msg, n, err := decode(br, limit)
	if err != nil {
		hresp.Body.Close()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	resp := &response{msg: msg, attrLen: n, http: hresp, body: br}
	status := goipp.Status(msg.Code)
	s.log.Debug("ipp exchange", "op", op, "status", status.String(), "took", time.Since(start))
	if status > 0x00ff { // only successful-ok* (0x0000-0x00ff) are successes
		resp.close()
		switch status {
		case goipp.StatusErrorForbidden, goipp.StatusErrorNotAuthenticated, goipp.StatusErrorNotAuthorized:
			s.verified.Store(false)
			return nil, &AuthError{Operator: s.cfg.Operator, Basic: s.cfg.Password != "", Status: status.String(), Op: op}
		}
		return nil, &StatusError{Op: op, Status: status, Message: bounded(stringAttr(msg.Operation, "status-message"))}
	}
	return resp, nil
}

func discard(r *http.Response) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 4096))
	r.Body.Close()
}

// bounded makes text from CUPS fit for an error message: valid UTF-8,
// no control characters, at most 200 bytes.
func bounded(s string) string {
	const limit = 200
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
