package localspool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/release"
)

var (
	sidesSupported = []string{"one-sided", "two-sided-long-edge", "two-sided-short-edge"}
	colorModes     = []string{"auto", "monochrome", "color"}
	mediaSupported = []string{"iso_a4_210x297mm", "na_letter_8.5x11in"}
	operations     = []goipp.Op{goipp.OpPrintJob, goipp.OpValidateJob, goipp.OpCreateJob, goipp.OpSendDocument,
		goipp.OpCancelJob, goipp.OpGetJobAttributes, goipp.OpGetJobs, goipp.OpGetPrinterAttributes}
)

const defaultMedia = "iso_a4_210x297mm"

// holdUntil is the one job-hold-until value a queue takes: the held queue
// holds every job until its owner releases it at the printer; the direct
// queue holds none.
func holdUntil(queue string) string {
	if queue == queuePrint {
		return "indefinite"
	}
	return "no-hold"
}

// ticket is what a job creation request asks for.
type ticket struct {
	name, format            string
	copies                  int
	sides, colorMode, media string
}

// parseTicket reads the job's operation and template attributes. A value
// this printer does not support is returned as unsupported (and ignored),
// or refused when the client asked for ipp-attribute-fidelity.
func (c *request) parseTicket() (ticket, goipp.Attributes, error) {
	var unsupported goipp.Attributes
	t := ticket{
		// RFC 8011 4.2.1.1: without job-name, the document's name.
		name:   ippserver.Truncate(c.opString("job-name", c.opString("document-name", "untitled")), 255),
		copies: 1,
		// No media unless asked for: the job then takes the printer's
		// default paper, never a size this queue guessed.
		sides: "one-sided", colorMode: "auto",
	}
	if a, ok := c.opAttr("compression"); ok && ippserver.Value(a) != "none" {
		unsupported.Add(a)
		return t, unsupported, ippserver.Errorf(goipp.StatusErrorCompressionNotSupported, "compression %q is not supported", ippserver.Value(a))
	}
	if _, ok := c.opAttr("document-format"); ok {
		f, err := c.format(&unsupported)
		if err != nil {
			return t, unsupported, err
		}
		t.format = f
	}
	for _, a := range c.req.Job {
		switch a.Name {
		case "copies":
			if n, ok := ippserver.IntValue(a); ok && len(a.Values) == 1 && n >= 1 && n <= 999 {
				t.copies = n
			} else {
				unsupported.Add(a)
			}
		case "sides":
			if v, ok := oneOf(a, sidesSupported); ok {
				t.sides = v
			} else {
				unsupported.Add(a)
			}
		case "print-color-mode":
			if v, ok := oneOf(a, colorModes); ok {
				t.colorMode = v
			} else {
				unsupported.Add(a)
			}
		case "media":
			if v, ok := oneOf(a, mediaSupported); ok {
				t.media = v
			} else {
				unsupported.Add(a)
			}
		case "job-hold-until":
			if len(a.Values) != 1 || ippserver.Value(a) != holdUntil(c.queue) {
				unsupported.Add(a)
			}
		}
	}
	if a, ok := c.opAttr("ipp-attribute-fidelity"); ok && len(unsupported) > 0 {
		if b, _ := ippserver.BoolValue(a); b {
			return t, unsupported, ippserver.Errorf(goipp.StatusErrorAttributesOrValues, "some attributes are not supported")
		}
	}
	return t, unsupported, nil
}

// format checks document-format against document-format-supported.
func (c *request) format(unsupported *goipp.Attributes) (string, error) {
	def := "application/octet-stream"
	if !slices.Contains(c.s.cfg.Formats, def) {
		def = c.s.cfg.Formats[0]
	}
	format := strings.ToLower(c.opString("document-format", def))
	if !slices.Contains(c.s.cfg.Formats, format) {
		unsupported.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(ippserver.Truncate(format, 255))))
		return "", ippserver.Errorf(goipp.StatusErrorDocumentFormatNotSupported, "document-format %q is not supported", format)
	}
	return format, nil
}

// owner is the job's owner; a job nobody could release is refused.
func (c *request) owner() (string, error) {
	if c.user == "" {
		return "", ippserver.Errorf(goipp.StatusErrorBadRequest, "requesting-user-name is required: it names who may release the job")
	}
	return ippserver.Truncate(c.user, 255), nil
}

func (c *request) needPrinterURI() error {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return ippserver.Errorf(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	return nil
}

func (c *request) validateJob() (goipp.Attributes, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, err
	}
	t, unsupported, err := c.parseTicket()
	if err == nil && t.format == "" {
		_, err = c.format(&unsupported)
	}
	return unsupported, err
}

func (c *request) printJob() (goipp.Groups, goipp.Attributes, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, nil, err
	}
	t, unsupported, err := c.parseTicket()
	if err != nil {
		return nil, unsupported, err
	}
	if t.format == "" {
		if t.format, err = c.format(&unsupported); err != nil {
			return nil, unsupported, err
		}
	}
	owner, err := c.owner()
	if err != nil {
		return nil, unsupported, err
	}
	if err := c.s.accepting(c.queue); err != nil {
		return nil, unsupported, err
	}
	j := c.s.newJob(c.queue, owner, c.addr, t, false)
	if err := c.s.receiveInto(j, c.doc, true); err != nil {
		return nil, unsupported, err
	}
	return c.jobCreated(j), unsupported, nil
}

func (c *request) createJob() (goipp.Groups, goipp.Attributes, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, nil, err
	}
	t, unsupported, err := c.parseTicket()
	if err != nil {
		return nil, unsupported, err
	}
	owner, err := c.owner()
	if err != nil {
		return nil, unsupported, err
	}
	if err := c.s.accepting(c.queue); err != nil {
		return nil, unsupported, err
	}
	j := c.s.newJob(c.queue, owner, c.addr, t, true)
	return c.jobCreated(j), unsupported, nil
}

func (c *request) sendDocument() (goipp.Groups, goipp.Attributes, error) {
	j, err := c.targetJob()
	if err != nil {
		return nil, nil, err
	}
	a, ok := c.opAttr("last-document")
	if !ok {
		return nil, nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "last-document is required")
	}
	last, ok := ippserver.BoolValue(a)
	if !ok {
		return nil, nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "last-document must be a boolean")
	}
	if !last {
		return nil, nil, ippserver.Errorf(goipp.StatusErrorMultipleJobsNotSupported, "a job holds one document")
	}
	var unsupported goipp.Attributes
	if a, ok := c.opAttr("compression"); ok && ippserver.Value(a) != "none" {
		unsupported.Add(a)
		return nil, unsupported, ippserver.Errorf(goipp.StatusErrorCompressionNotSupported, "compression %q is not supported", ippserver.Value(a))
	}
	format, err := c.format(&unsupported)
	if err != nil {
		return nil, unsupported, err
	}
	s := c.s
	s.mu.Lock()
	if j.state != statePending || j.receiving || j.m.Size > 0 {
		s.mu.Unlock()
		return nil, nil, ippserver.Errorf(goipp.StatusErrorNotPossible, "job %d is not waiting for a document", j.m.JobID)
	}
	j.receiving = true
	if _, ok := c.opAttr("document-format"); ok || j.m.Format == "" {
		j.m.Format = format
	}
	s.mu.Unlock()
	if err := s.receiveInto(j, c.doc, false); err != nil {
		return nil, unsupported, err
	}
	return c.jobCreated(j), unsupported, nil
}

// jobCreated is the job group of a Print-Job, Create-Job or Send-Document
// response.
func (c *request) jobCreated(j *job) goipp.Groups {
	c.s.mu.Lock()
	attrs := c.jobAttributes(j)
	c.s.mu.Unlock()
	attrs = ippserver.Filter(attrs, map[string]bool{
		"job-id": true, "job-uri": true, "job-state": true, "job-state-reasons": true, "job-state-message": true,
	})
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: attrs}}
}

// targetJob finds the job a request names (job-uri, or printer-uri and
// job-id) in this queue, and checks that the user may act on it.
func (c *request) targetJob() (*job, error) {
	id, err := ippserver.JobID(c.req.Operation)
	if err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	j, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok || j.queue != c.queue {
		return nil, ippserver.Errorf(goipp.StatusErrorNotFound, "job %d does not exist", id)
	}
	if !c.owns(j) && !s.isOperator(c.user) {
		return nil, ippserver.Errorf(goipp.StatusErrorNotAuthorized, "job %d is not yours", id)
	}
	return j, nil
}

// owns reports whether the requester is j's owner: authenticated as its
// owner, or, without authentication (where requesting-user-name is the
// workstation's word), naming its owner from the address that submitted
// it, so another workstation naming the owner can neither see nor cancel
// the job.
func (c *request) owns(j *job) bool {
	if !c.s.sameUser(j.m.Owner, c.user) {
		return false
	}
	return c.s.cfg.Users != nil || (c.addr != "" && j.m.Addr == c.addr)
}

func (c *request) cancelJob() error {
	j, err := c.targetJob()
	if err != nil {
		return err
	}
	s := c.s
	s.mu.Lock()
	state, receiving := j.state, j.receiving
	switch {
	case state >= stateCanceled:
		s.mu.Unlock()
		return ippserver.Errorf(goipp.StatusErrorNotPossible, "job %d is already %s", j.m.JobID, stateName(state))
	case receiving:
		s.mu.Unlock()
		return ippserver.Errorf(goipp.StatusErrorNotPossible, "job %d is receiving its document", j.m.JobID)
	case j.cancel != nil: // a direct job waiting or printing
		j.cancel()
		s.mu.Unlock()
	case state == statePending: // a Create-Job without its document
		s.finish(j, stateCanceled, "job-canceled-by-user", "Canceled by its owner.")
		s.mu.Unlock()
	default:
		s.mu.Unlock()
		if err := s.drop(j, false, stateCanceled, "job-canceled-by-user", "Canceled by its owner."); err != nil {
			if errors.Is(err, ErrNotFound) {
				return ippserver.Errorf(goipp.StatusErrorNotPossible, "job %d is no longer held", j.m.JobID)
			}
			return err
		}
	}
	s.log.Info("job canceled over IPP", "job_id", j.m.JobID, "queue", c.queue)
	return nil
}

func (c *request) getJobAttributes() (goipp.Groups, error) {
	j, err := c.targetJob()
	if err != nil {
		return nil, err
	}
	c.s.mu.Lock()
	attrs := c.jobAttributes(j)
	c.s.mu.Unlock()
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: ippserver.Filter(attrs, ippserver.Requested(c.req.Operation))}}, nil
}

func (c *request) getJobs() (goipp.Groups, goipp.Attributes, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, nil, err
	}
	which := "not-completed"
	if a, ok := c.opAttr("which-jobs"); ok {
		which = ippserver.Value(a)
		switch which {
		case "completed", "not-completed", "all":
		default:
			return nil, goipp.Attributes{a}, ippserver.Errorf(goipp.StatusErrorAttributesOrValues, "which-jobs %q is not supported", ippserver.Truncate(which, 64))
		}
	}
	limit := -1
	if a, ok := c.opAttr("limit"); ok {
		if n, ok := ippserver.IntValue(a); ok && n > 0 {
			limit = n
		}
	}
	// Without my-jobs an operator sees every job; anyone else sees only
	// their own (owns: without authentication, from the submitting
	// address): job names are personal data.
	everyone := c.s.isOperator(c.user)
	if a, ok := c.opAttr("my-jobs"); ok {
		if b, _ := ippserver.BoolValue(a); b {
			everyone = false
		}
	}
	want := ippserver.Requested(c.req.Operation, "job-id", "job-uri")

	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var jobs []*job
	for _, j := range s.jobs {
		if j.queue != c.queue || (!everyone && !c.owns(j)) {
			continue
		}
		done := j.state >= stateCanceled
		if which == "all" || (which == "completed") == done {
			jobs = append(jobs, j)
		}
	}
	// Active jobs oldest first (the order they will print in), finished
	// ones newest first, as CUPS lists them.
	slices.SortFunc(jobs, func(a, b *job) int {
		if which == "completed" {
			return b.m.JobID - a.m.JobID
		}
		return a.m.JobID - b.m.JobID
	})
	var groups goipp.Groups
	for _, j := range jobs {
		if limit >= 0 && len(groups) >= limit {
			break
		}
		groups = append(groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: ippserver.Filter(c.jobAttributes(j), want)})
	}
	return groups, nil, nil
}

// accepting refuses new jobs when the spool is full or closing.
func (s *Spool) accepting(queue string) error {
	if s.ctx.Err() != nil {
		return ippserver.Errorf(goipp.StatusErrorNotAcceptingJobs, "the spool is shutting down")
	}
	if s.spoolFull() {
		return ippserver.Errorf(goipp.StatusErrorNotAcceptingJobs, "the spool is full; try again once jobs have been released")
	}
	s.mu.Lock()
	active := len(s.jobs) - len(s.finished)
	s.mu.Unlock()
	if active >= maxActive {
		return ippserver.Errorf(goipp.StatusErrorTooManyJobs, "too many jobs are waiting; try again once jobs have been released")
	}
	return nil
}

// newJob creates a job: a Create-Job's waits for its Send-Document (and
// times out), a Print-Job's is receiving its document already.
func (s *Spool) newJob(queue, owner, addr string, t ticket, awaitDocument bool) *job {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	j := &job{
		m: meta{
			Version: metaVersion, ID: newID(), JobID: id, Owner: owner, Addr: addr, Name: t.name, Format: t.format,
			Copies: t.copies, Sides: t.sides, ColorMode: t.colorMode, Media: t.media, Created: now,
		},
		queue: queue, state: statePending, reason: "job-incoming", created: now, received: s.cfg.Clock.Now(),
		receiving: !awaitDocument,
	}
	if awaitDocument {
		j.deadline = now.Add(documentTimeout)
	}
	s.jobs[id] = j
	return j
}

// receiveInto stores j's document and moves the job on: held on the print
// queue, queued for printing on the direct one. A refused document answers
// with the matching IPP status and ends the job: a Print-Job's is
// forgotten (its client never learnt of it), a Create-Job's is aborted.
func (s *Spool) receiveInto(j *job, body io.Reader, forget bool) error {
	rec, err := s.receive(body)
	if err != nil {
		s.mu.Lock()
		j.receiving = false
		if forget {
			delete(s.jobs, j.m.JobID)
		} else {
			s.finish(j, stateAborted, "aborted-by-system", "The document was refused.")
		}
		s.mu.Unlock()
		switch {
		case errors.Is(err, errTooLarge):
			return ippserver.Errorf(goipp.StatusErrorRequestEntity, "the document is larger than %d bytes", s.cfg.MaxJobSize)
		case errors.Is(err, errSpoolFull):
			return ippserver.Errorf(goipp.StatusErrorNotAcceptingJobs, "the spool is full; try again once jobs have been released")
		case errors.Is(err, errNoDocument):
			return ippserver.Errorf(goipp.StatusErrorBadRequest, "no document data")
		}
		s.log.Warn("receiving a document failed", "job_id", j.m.JobID, "err", err)
		return ippserver.Errorf(goipp.StatusErrorBadRequest, "the document could not be received")
	}
	s.mu.Lock()
	j.m.Size = rec.size
	j.m.Format = sniff(j.m.Format, rec.head)
	format := j.m.Format
	s.mu.Unlock()
	pages := 0
	if format == "application/pdf" {
		pages = s.countPages(rec.tmp)
	}
	s.mu.Lock()
	j.m.Pages = pages
	m := j.m
	s.mu.Unlock()

	if j.queue == queueDirect {
		return s.startDirect(j, rec)
	}
	disk, err := s.commit(rec.tmp, &m)
	if err != nil {
		s.release(rec)
		s.mu.Lock()
		j.receiving = false
		s.finish(j, stateAborted, "aborted-by-system", "The job could not be stored.")
		s.mu.Unlock()
		return fmt.Errorf("store job %s: %w", m.ID, err)
	}
	s.mu.Lock()
	rec.released = true // renamed into place: now counted in used
	s.inflight -= rec.disk
	s.used += disk
	j.disk = disk
	j.receiving = false
	// job-release-wait (PWG 5100.11) says what the hold is: a workstation's
	// CUPS shows it to the user instead of a bare "held".
	j.state, j.reason, j.message = stateHeld, "job-release-wait", "Held until released at the printer."
	j.deadline = time.Time{}
	s.held[m.ID] = j
	s.mu.Unlock()
	s.log.Info("job held", "job", m.ID, "job_id", m.JobID, "owner", m.Owner, "format", m.Format,
		"bytes", m.Size, "pages", m.Pages, "copies", m.Copies)
	return nil
}

// startDirect queues a direct job: it prints in its own goroutine, one job
// at a time, and the Print-Job response does not wait for it.
func (s *Spool) startDirect(j *job, rec *received) error {
	s.mu.Lock()
	j.receiving = false
	if s.ctx.Err() != nil {
		s.finish(j, stateAborted, "aborted-by-system", "The spool is shutting down.")
		s.mu.Unlock()
		s.release(rec)
		return ippserver.Errorf(goipp.StatusErrorNotAcceptingJobs, "the spool is shutting down")
	}
	ctx, cancel := context.WithCancel(s.ctx)
	j.cancel = cancel
	j.tmp = rec.tmp
	j.reason, j.message, j.deadline = "none", "Waiting for the printer.", time.Time{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.runDirect(ctx, cancel, j, rec)
	return nil
}

func (s *Spool) runDirect(ctx context.Context, cancel context.CancelFunc, j *job, rec *received) {
	defer s.wg.Done()
	defer s.release(rec)
	defer cancel()
	end := func(state int, reason, message string) {
		s.mu.Lock()
		s.finish(j, state, reason, message)
		j.cancel = nil
		s.mu.Unlock()
	}
	canceled := func() {
		if s.ctx.Err() != nil {
			end(stateAborted, "aborted-by-system", "The spool shut down.")
		} else {
			end(stateCanceled, "job-canceled-by-user", "Canceled by its owner.")
		}
	}
	select {
	case s.slot <- struct{}{}:
	case <-ctx.Done():
		canceled()
		return
	}
	defer func() { <-s.slot }()
	// Close cancels s.ctx before it reaches each job's context: the job
	// before this one may have ended in between.
	if ctx.Err() != nil || s.ctx.Err() != nil {
		canceled()
		return
	}
	s.mu.Lock()
	j.state, j.reason, j.message, j.processing = stateProcessing, "job-printing", "Printing.", s.now()
	m := j.m
	s.mu.Unlock()
	body, err := s.openDocument(rec.tmp)
	if err != nil {
		s.log.Error("cannot open a direct job's document", "job_id", m.JobID, "err", err)
		end(stateAborted, "aborted-by-system", "The document could not be read.")
		return
	}
	n, err := s.cfg.Direct(ctx, DirectJob{
		Owner: m.Owner, Name: m.Name, Format: m.Format, Copies: m.Copies,
		Color: m.ColorMode != "monochrome", Duplex: m.Sides != "one-sided",
		Size: m.Size, Pages: m.Pages, Body: body,
	})
	body.Close()
	switch {
	case errors.Is(err, release.ErrOutcomeUnknown):
		// Reported as done, with a warning: an aborted job may be sent
		// again by the workstation, and print twice.
		s.log.Warn("direct job sent; its end is not known", "job_id", m.JobID, "owner", m.Owner, "err", err)
		end(stateCompleted, "job-completed-with-warnings", "Sent to the printer, which did not confirm the end.")
	case ctx.Err() != nil:
		canceled()
	case err != nil:
		s.log.Warn("direct job failed", "job_id", m.JobID, "owner", m.Owner, "err", err)
		end(stateAborted, "aborted-by-system", directFailure(err))
	default:
		s.mu.Lock()
		j.impressions = n
		s.mu.Unlock()
		end(stateCompleted, "job-completed-successfully", "Printed.")
		s.log.Info("direct job printed", "job_id", m.JobID, "owner", m.Owner, "impressions", n)
	}
}

// directFailure is a failed direct job's job-state-message: the engine's
// words for a printer that cannot print, else nothing of the error, whose
// text is internal (the log has it).
func directFailure(err error) string {
	var nr *release.NotReady
	if errors.As(err, &nr) {
		return ippserver.Truncate("Not printed: "+nr.Reason, 255)
	}
	return "Printing failed; the print service's log says why."
}

func stateName(state int) string {
	switch state {
	case statePending:
		return "pending"
	case stateHeld:
		return "pending-held"
	case stateProcessing:
		return "processing"
	case stateCanceled:
		return "canceled"
	case stateAborted:
		return "aborted"
	case stateCompleted:
		return "completed"
	}
	return "state " + strconv.Itoa(state)
}

// oneOf is the single keyword value of a, when it is one of allowed.
func oneOf(a goipp.Attribute, allowed []string) (string, bool) {
	v := ippserver.Value(a)
	return v, len(a.Values) == 1 && slices.Contains(allowed, v)
}
