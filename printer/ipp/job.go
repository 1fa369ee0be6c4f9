package ipp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	goipp "github.com/phin1x/go-ipp"
)

// Job is a document to print.
type Job struct {
	Name      string // job-name; make it unique to find the job again with FindJob
	User      string // requesting-user-name; the client's User when empty
	Format    string // document-format; application/octet-stream when empty
	Copies    int    // 1 when less than 1
	Sides     string // one-sided, two-sided-long-edge, two-sided-short-edge or "" (printer default)
	ColorMode string // monochrome, color or "" (printer default)
	Media     string // a media keyword such as iso_a4_210x297mm, or "" (printer default)
	Size      int64  // exact length of Body
	Body      io.Reader
	// Impressions is what the job should make (pages × copies), 0 when
	// unknown. Not sent: a path that counts pages itself (port 9100's
	// counter delta) bounds what it may believe with it.
	Impressions int
}

// JobState is what the printer says about a job.
type JobState struct {
	ID          int
	Name        string
	State       string // pending, held, processing, stopped, canceled, aborted or completed
	Reasons     []string
	Impressions int // job-impressions-completed
	Terminal    bool
}

const maxNameLen = 255 // IPP name values

// Print sends the job with Print-Job and returns the printer's job id.
//
// The document is streamed with its known length, never buffered. Before
// sending, the printer's document-format-supported is checked; a format it
// does not list gives ErrFormatUnsupported.
//
// A printer that is busy, asleep or warming up is given time: Print tries
// again, after waits of 1, 2, 4 and then 8 s that add up to less than 40 s,
// when
//   - the printer refuses or resets the connection, or closes it before
//     answering, before any of the document went out;
//   - it answers server-error-busy, server-error-service-unavailable,
//     server-error-temporary-error, server-error-not-accepting-jobs or
//     HTTP 503;
//   - printer-is-accepting-jobs is false and printer-state-reasons says it
//     is warming up or powering up: warming-up, power-up,
//     fuser-under-temperature or a sub-unit's *-warming-up.
//
// Print tries again only if it can do so without reading the document anew:
// nothing of it was consumed yet, or Body is an io.Seeker and is rewound.
// Otherwise it returns an error matching ErrBusy, for the caller to re-open
// the document and try later. A request whose whole document went out and
// whose answer was lost is never sent again, since the printer may have the
// job: its error matches ErrMaybeSent, as does that of a Print cut off
// while the document was going out (a reset, its ctx ending, a source that
// broke), since a printer may start on a streamed job before its end. A
// document that cannot be read whole (its source fails, even at its very
// end, or its length is not Size) is cut off before its last bytes: the
// error matches ErrDocument, and ErrMaybeSent too if some of it went out.
// Other errors (the format, the
// request, authorization...) are returned at once. When the tries are
// spent, the last error is returned: it matches ErrBusy for
// server-error-busy and ErrNotAccepting for a printer that stayed not
// accepting jobs.
func (c *Client) Print(ctx context.Context, j Job) (int, error) {
	if err := c.checkJob(&j); err != nil {
		return 0, fmt.Errorf("print %q: %w", j.Name, err)
	}
	seeker, _ := j.Body.(io.Seeker)
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	b := newBackoff(c.busyWait)
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		id, sent, err := c.printOnce(ctx, j)
		if err == nil {
			return id, nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return 0, fmt.Errorf("print %q: %w", j.Name, err)
		}
		wait, ok := b.wait()
		if !ok {
			return 0, fmt.Errorf("print %q: gave up after %d attempts in %s: %w", j.Name, attempt, waited, err)
		}
		if sent > 0 {
			if seeker == nil {
				return 0, fmt.Errorf("print %q: %w (%w: part of the document was sent; re-open it to retry)", j.Name, err, ErrBusy)
			}
			if _, serr := seeker.Seek(start, io.SeekStart); serr != nil {
				return 0, fmt.Errorf("print %q: %w (%w: rewind the document: %v)", j.Name, err, ErrBusy, serr)
			}
		}
		c.log.Info("printer not ready; retrying", "attempt", attempt, "in", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return 0, fmt.Errorf("print %q: %w", j.Name, err)
		}
		waited += wait
	}
}

// printOnce asks the printer for its state and, if it takes the job, sends
// it once. sent is how much of the document was handed to the transport.
func (c *Client) printOnce(ctx context.Context, j Job) (id int, sent int64, err error) {
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	if !info.Supports(j.Format) {
		return 0, 0, fmt.Errorf("%s (printer takes %v): %w", j.Format, info.DocumentFormats, ErrFormatUnsupported)
	}
	if !info.AcceptingJobs {
		na := &notAcceptingError{state: info.State, reasons: info.StateReasons}
		for _, r := range info.StateReasons {
			na.waking = na.waking || wakingReason(r)
		}
		return 0, 0, na
	}

	r := c.request(goipp.OperationPrintJob, j.User)
	r.OperationAttributes[goipp.AttributeJobName] = j.Name
	r.OperationAttributes[goipp.AttributeDocumentFormat] = j.Format
	r.JobAttributes[goipp.AttributeCopies] = j.Copies
	var extra [][2]string
	if j.Sides != "" {
		if contains(info.SidesSupported, j.Sides) {
			r.JobAttributes[goipp.AttributeSides] = j.Sides
		} else {
			c.log.Debug("printer lacks the requested sides; using its default", "sides", j.Sides, "supported", info.SidesSupported)
		}
	}
	switch {
	case j.ColorMode == "color" && !info.ColorSupported:
		extra = append(extra, [2]string{"print-color-mode", "monochrome"})
	case j.ColorMode != "":
		extra = append(extra, [2]string{"print-color-mode", j.ColorMode})
	}
	if j.Media != "" {
		extra = append(extra, [2]string{"media", j.Media})
	}
	head, err := encodeRequest(r, true, extra)
	if err != nil {
		return 0, 0, err
	}

	body := &sizedReader{r: j.Body, left: j.Size}
	resp, err := c.do(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: body.gotConn}),
		"Print-Job", head, body, j.Size)
	sent, bodyErr := body.fence()
	if err != nil {
		var (
			st *StatusError
			he *httpStatusError
		)
		answered := errors.As(err, &st) || errors.As(err, &he)
		switch {
		case answered && bodyErr != nil:
			err = &documentError{err: bodyErr}
		case answered:
			// The printer refused the request: it has no job.
		case sent == j.Size:
			err = &sentError{err: err}
		case sent > 0:
			// A printer may start a streamed job before the end of its
			// document: one cut off part way (a reset, the caller's end,
			// a source that broke) is not known to be gone, and sending
			// it again could print its first pages twice.
			if bodyErr != nil {
				err = &documentError{err: bodyErr}
			}
			err = &sentError{err: err, partial: true}
		case bodyErr != nil:
			err = &documentError{err: bodyErr}
		}
		return 0, sent, err
	}
	if len(resp.JobAttributes) > 0 {
		id, _ = firstInt(resp.JobAttributes[0], "job-id")
	}
	if id <= 0 {
		return 0, sent, errors.New("Print-Job: no job-id in the response")
	}
	c.log.Debug("job accepted", "printer_job", id, "bytes", j.Size, "format", j.Format)
	return id, sent, nil
}

func (c *Client) checkJob(j *Job) error {
	if j.Body == nil || j.Size <= 0 {
		return errors.New("empty document")
	}
	if j.User == "" {
		j.User = c.user
	}
	if j.Format == "" {
		j.Format = "application/octet-stream"
	}
	if j.Copies < 1 {
		j.Copies = 1
	}
	if len(j.Name) > maxNameLen || len(j.User) > maxNameLen {
		return errors.New("job name or user longer than 255 bytes")
	}
	switch j.Sides {
	case "", "one-sided", "two-sided-long-edge", "two-sided-short-edge":
	default:
		return fmt.Errorf("unknown sides %q", j.Sides)
	}
	switch j.ColorMode {
	case "", "monochrome", "color", "auto":
	default:
		return fmt.Errorf("unknown color mode %q", j.ColorMode)
	}
	return nil
}

// sizedReader delivers exactly left bytes of r. It fails before handing
// over the last bytes when r is longer or shorter than promised, or when
// reading them or looking past them fails (a source that checks its hash
// at its end says so there), so a printer never receives a complete
// request for a document that is not the one promised.
type sizedReader struct {
	mu     sync.Mutex
	r      io.Reader
	left   int64
	read   int64
	err    error // the document's own failure, if any
	fenced bool
	conn   net.Conn // the request's connection, once known
}

// gotConn notes the connection the request goes out on (an
// httptrace.ClientTrace hook).
func (s *sizedReader) gotConn(info httptrace.GotConnInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = info.Conn
}

// fail records the document's failure and makes the closing of the
// request's connection, which net/http does next, a reset: a printer that
// took the end of a stream for the end of the document (ippeveprinter does
// so at times, despite the Content-Length) would print the part it got,
// while a reset is an error to it, and it drops the job. Called with s.mu
// held.
func (s *sizedReader) fail(err error) error {
	s.err = err
	conn := s.conn
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return err
}

// errAttemptOver is what a transport still writing an attempt's request
// reads once Print has moved on.
var errAttemptOver = errors.New("document read after its request ended")

func (s *sizedReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fenced {
		return 0, errAttemptOver
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.read += int64(n)
	s.left -= int64(n)
	if s.left == 0 {
		// These are the last bytes: they are held back unless the
		// document is known to end here, whole.
		if err := s.checkEnd(err); err != nil {
			s.read -= int64(n) // never handed over
			return 0, s.fail(err)
		}
		return n, nil
	}
	switch {
	case err == io.EOF:
		return n, s.fail(fmt.Errorf("document shorter than its size: %w", io.ErrUnexpectedEOF))
	case err != nil:
		return n, s.fail(err)
	}
	return n, nil
}

// checkEnd is called once the promised size was read, with the error of
// that read: nil when the document ends there, else why it is not whole.
func (s *sizedReader) checkEnd(err error) error {
	if err != nil && err != io.EOF {
		return err
	}
	if err == nil {
		var one [1]byte
		m, perr := io.ReadFull(s.r, one[:])
		switch {
		case m > 0:
			return errors.New("document longer than its size")
		case perr != io.EOF:
			return perr
		}
	}
	return nil
}

// fence ends the reader's attempt and returns how much it consumed and the
// document's failure, if any. net/http may close, and so stop reading, a
// request body after Do returned; past the fence, such a late read gets
// nothing, so it cannot take bytes from the next attempt.
func (s *sizedReader) fence() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fenced = true
	return s.read, s.err
}

var jobAttributes = []string{
	"job-id", "job-name", "job-state", "job-state-reasons", "job-impressions-completed",
}

// Job asks for a job's state (Get-Job-Attributes). A job the printer no
// longer knows gives an error matching ErrJobGone.
func (c *Client) Job(ctx context.Context, id int) (JobState, error) {
	r := c.request(goipp.OperationGetJobAttributes, c.user)
	r.OperationAttributes[goipp.AttributeJobID] = id
	r.OperationAttributes[goipp.AttributeRequestedAttributes] = jobAttributes
	head, err := encodeRequest(r, false, nil)
	if err != nil {
		return JobState{}, fmt.Errorf("job %d: %w", id, err)
	}
	resp, err := c.do(ctx, "Get-Job-Attributes", head, nil, 0)
	var se *StatusError
	if errors.As(err, &se) && (se.Code == goipp.StatusErrorNotFound || se.Code == goipp.StatusErrorGone) {
		return JobState{}, fmt.Errorf("job %d: %w: %w", id, ErrJobGone, err)
	}
	if err != nil {
		return JobState{}, fmt.Errorf("job %d: %w", id, err)
	}
	if len(resp.JobAttributes) == 0 {
		return JobState{}, fmt.Errorf("job %d: no job attributes in the response", id)
	}
	st := jobState(resp.JobAttributes[0])
	if st.ID == 0 {
		st.ID = id
	}
	return st, nil
}

func jobState(a goipp.Attributes) JobState {
	st := JobState{Name: firstString(a, "job-name"), Reasons: allStrings(a, "job-state-reasons")}
	st.ID, _ = firstInt(a, "job-id")
	st.Impressions, _ = firstInt(a, "job-impressions-completed")
	n, _ := firstInt(a, "job-state")
	switch int8(n) {
	case goipp.JobStatePending:
		st.State = "pending"
	case goipp.JobStateHeld:
		st.State = "held"
	case goipp.JobStateProcessing:
		st.State = "processing"
	case goipp.JobStateStopped:
		st.State = "stopped"
	case goipp.JobStateCanceled:
		st.State, st.Terminal = "canceled", true
	case goipp.JobStateAborted:
		st.State, st.Terminal = "aborted", true
	case goipp.JobStateCompleted:
		st.State, st.Terminal = "completed", true
	default:
		st.State = fmt.Sprintf("unknown(%d)", n)
	}
	return st
}

// Wait polls the job until it is completed, canceled or aborted. When the
// printer forgets the job first, the error matches ErrJobGone. Network
// errors and busy answers are retried until ctx ends; other IPP errors and
// HTTP refusals (see Permanent) end the wait.
//
// With an error, the JobState is the last one the printer reported (zero
// when it reported none): its Impressions are what is known to have
// printed of a job that vanished.
func (c *Client) Wait(ctx context.Context, id int) (JobState, error) {
	var last JobState
	for {
		st, err := c.Job(ctx, id)
		switch {
		case err == nil && st.Terminal:
			return st, nil
		case err == nil:
			last = st
		case errors.Is(err, ErrJobGone):
			return last, err
		case ctx.Err() != nil:
			return last, fmt.Errorf("wait for job %d: %w", id, ctx.Err())
		case Permanent(err):
			return last, fmt.Errorf("wait for job %d: %w", id, err)
		default:
			c.log.Debug("job state unavailable; retrying", "printer_job", id, "err", err)
		}
		if err := sleep(ctx, c.poll); err != nil {
			return last, fmt.Errorf("wait for job %d: %w", id, err)
		}
	}
}

// permanent reports an IPP error status that asking again will not change.
func permanent(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case goipp.StatusErrorBusy, goipp.StatusErrorServiceUnavailable, goipp.StatusErrorTemporary, goipp.StatusErrorTimeout:
		return false
	}
	return true
}

// Permanent reports a refusal that asking again will not change: an IPP
// error status other than the busy and temporary ones, or an HTTP answer
// of 4xx other than 408 and 429 (a printer that wants a password, or
// lacks the operation). A caller that retries stops on such an error, or
// after a few of them.
func Permanent(err error) bool {
	var he *httpStatusError
	if errors.As(err, &he) {
		return he.code >= 400 && he.code < 500 && he.code != http.StatusRequestTimeout && he.code != http.StatusTooManyRequests
	}
	return permanent(err)
}

// minShortName is the shortest start of a job name taken for the name
// itself when a printer reports it shortened: a shorter start may be
// shared by another job, or by another attempt of the same job
// (tessera-hub-42-1-… and tessera-hub-42-1x-… begin alike).
const minShortName = 20

// SameJobName reports whether reported, a job-name as a printer reports
// it, is ours: the same, or its start when the printer shortens names
// (some keep only a fixed number of bytes). Any other name is another
// job's, such as one that took our job id after the printer restarted its
// numbering.
func SameJobName(reported, ours string) bool {
	if reported == ours {
		return true
	}
	return len(reported) >= minShortName && len(reported) < len(ours) && strings.HasPrefix(ours, reported)
}

// FindJob looks for the job named name, for recovery after a crash while
// a job was being sent. A job whose name the printer shortened is found by
// what it kept of it (see SameJobName). It asks for not-completed jobs, then completed ones
// (RFC 8011 defines only these two which-jobs values; "all" is an
// extension some printers lack). With several matches, the newest wins.
//
// It asks as user, the requesting-user-name the job was printed with (the
// client's User when empty): a printer with job privacy (the
// job-privacy-attributes of IPP, CUPS's JobPrivateValues) hides a job's
// name from everyone but its owner.
func (c *Client) FindJob(ctx context.Context, name, user string) (JobState, bool, error) {
	if user == "" {
		user = c.user
	}
	for _, which := range []string{goipp.JobStateFilterNotCompleted, goipp.JobStateFilterCompleted} {
		r := c.request(goipp.OperationGetJobs, user)
		r.OperationAttributes[goipp.AttributeWhichJobs] = which
		r.OperationAttributes[goipp.AttributeRequestedAttributes] = jobAttributes
		head, err := encodeRequest(r, false, nil)
		if err != nil {
			return JobState{}, false, fmt.Errorf("find job %q: %w", name, err)
		}
		resp, err := c.do(ctx, "Get-Jobs", head, nil, 0)
		var se *StatusError
		if which == goipp.JobStateFilterCompleted && errors.As(err, &se) && se.Code == goipp.StatusErrorAttributesOrValues {
			c.log.Debug("printer does not list completed jobs", "err", err)
			return JobState{}, false, nil
		}
		if err != nil {
			return JobState{}, false, fmt.Errorf("find job %q: %w", name, err)
		}
		var best JobState
		for _, a := range resp.JobAttributes {
			if st := jobState(a); SameJobName(st.Name, name) && st.ID > best.ID {
				best = st
			}
		}
		if best.ID > 0 {
			return best, true, nil
		}
	}
	return JobState{}, false, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
