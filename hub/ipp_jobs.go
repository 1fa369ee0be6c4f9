package hub

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
)

// ippTicket is what a job creation request asks for.
type ippTicket struct {
	name, format string
	copies       int
	color        bool
	duplex       bool
	media        string
}

// parseTicket reads the job's operation and template attributes. A value
// the printer does not support is returned as unsupported (and ignored),
// or refused when the client asked for ipp-attribute-fidelity. "auto"
// colour is held as monochrome: colour is charged only when asked for.
func (c *ippRequest) parseTicket() (ippTicket, goipp.Attributes, error) {
	var unsupported goipp.Attributes
	name := c.opString("job-name", c.opString("document-name", "untitled"))
	if !utf8.ValidString(name) {
		name = "untitled"
	}
	t := ippTicket{name: ippserver.Truncate(name, maxJobName), copies: 1}
	if a, ok := ippserver.Attr(c.req.Operation, "compression"); ok && ippserver.Value(a) != "none" {
		unsupported.Add(a)
		return t, unsupported, ippserver.Errorf(goipp.StatusErrorCompressionNotSupported, "compression %q is not supported", ippserver.Value(a))
	}
	format, err := c.format(&unsupported)
	if err != nil {
		return t, unsupported, err
	}
	t.format = format
	for _, a := range c.req.Job {
		if !c.ticketAttr(&t, a) {
			unsupported.Add(a)
		}
	}
	if a, ok := ippserver.Attr(c.req.Operation, "ipp-attribute-fidelity"); ok && len(unsupported) > 0 {
		if b, _ := ippserver.BoolValue(a); b {
			return t, unsupported, ippserver.Errorf(goipp.StatusErrorAttributesOrValues, "some attributes are not supported")
		}
	}
	return t, unsupported, nil
}

// ticketAttr applies one job template attribute to t; false when its
// value is not supported.
func (c *ippRequest) ticketAttr(t *ippTicket, a goipp.Attribute) bool {
	switch a.Name {
	case "copies":
		n, ok := ippserver.IntValue(a)
		if !ok || len(a.Values) != 1 || n < 1 || n > maxCopies {
			return false
		}
		t.copies = n
	case "sides":
		v, ok := oneValueOf(a, ippSides)
		t.duplex = ok && v != "one-sided"
		return ok
	case "print-color-mode":
		v, ok := oneValueOf(a, ippColorModes)
		t.color = ok && v == "color"
		return ok
	case "media":
		v, ok := oneValueOf(a, ippMediaNames())
		t.media = v
		return ok
	case "job-hold-until":
		return len(a.Values) == 1 && ippserver.Value(a) == "indefinite"
	}
	return true // other attributes (media-col, orientation...) are the printer's at release
}

func ippMediaNames() []string {
	names := make([]string, len(ippMedia))
	for i, m := range ippMedia {
		names[i] = m.name
	}
	return names
}

// oneValueOf is a's value when it has exactly one, among allowed.
func oneValueOf(a goipp.Attribute, allowed []string) (string, bool) {
	if len(a.Values) != 1 {
		return "", false
	}
	v := ippserver.Value(a)
	return v, slices.Contains(allowed, v)
}

// format checks document-format (default application/pdf; an
// application/octet-stream document is sniffed when it arrives).
func (c *ippRequest) format(unsupported *goipp.Attributes) (string, error) {
	format := strings.ToLower(c.opString("document-format", formatPDF))
	if format == formatOctetStream || slices.Contains(ippFormats, format) {
		return format, nil
	}
	unsupported.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(ippserver.Truncate(format, 255))))
	return "", ippserver.Errorf(goipp.StatusErrorDocumentFormatNotSupported, "document-format %q is not supported", format)
}

func (c *ippRequest) validateJob() (goipp.Attributes, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, err
	}
	_, unsupported, err := c.parseTicket()
	return unsupported, err
}

// printJob receives the document into the document store, under the
// user's quotas, and stores the job held for its owner as an upload is:
// its pages counted, leased to the owner's home agent if they have one.
func (c *ippRequest) printJob() (goipp.Groups, goipp.Attributes, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, nil, err
	}
	t, unsupported, err := c.parseTicket()
	if err != nil {
		return nil, unsupported, err
	}
	ctx := c.ctx()
	s := c.s
	room, err := s.ippRoom(ctx, c.user)
	if err != nil {
		return nil, unsupported, err
	}
	up, err := s.receiveIPP(ctx, c.doc, min(room, s.cfg.MaxUpload))
	if err != nil {
		return nil, unsupported, err
	}
	j, err := s.storeIPPJob(ctx, c.user, t, up)
	if err != nil {
		return nil, unsupported, err
	}
	attrs := c.jobAttributes(j)
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: ippserver.Filter(attrs,
		map[string]bool{"job-id": true, "job-uri": true, "job-state": true, "job-state-reasons": true, "job-state-message": true})}}, unsupported, nil
}

// ippRoom is how many more bytes user may hold at the hub: refused with
// server-error-too-many-jobs at their job quota, with
// client-error-request-entity-too-large at their byte quota.
func (s *Server) ippRoom(ctx context.Context, user string) (int64, error) {
	var n int
	var bytes sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*), SUM(size) FROM jobs WHERE owner = ? AND state = ?",
		user, stateHeld).Scan(&n, &bytes)
	if err != nil {
		return 0, fmt.Errorf("ipp quota of %s: %w", user, err)
	}
	lim := s.ipp.limits
	if n >= lim.MaxJobs {
		return 0, ippserver.Errorf(goipp.StatusErrorTooManyJobs, "you hold %d jobs, the most allowed: release or delete some", n)
	}
	room := lim.MaxBytes - bytes.Int64
	if room <= 0 {
		return 0, ippserver.Errorf(goipp.StatusErrorRequestEntity, "your held jobs fill your quota of %d bytes", lim.MaxBytes)
	}
	return room, nil
}

// receiveIPP streams the document into the document store, hashing it,
// refusing more than max bytes (client-error-request-entity-too-large)
// and naming its format from its first bytes.
func (s *Server) receiveIPP(ctx context.Context, body io.Reader, max int64) (*upload, error) {
	w, err := s.docs().Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("receive IPP document: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
		}
	}()
	h := sha256.New()
	head := &headWriter{}
	src := &sourceReader{r: io.LimitReader(body, max+1)}
	n, err := io.Copy(io.MultiWriter(w, h, head), src)
	switch {
	case err != nil && src.err == nil:
		return nil, fmt.Errorf("receive IPP document: %w", err)
	case err != nil:
		return nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "the document was cut short")
	case n > max:
		return nil, ippserver.Errorf(goipp.StatusErrorRequestEntity, "the document is larger than the %d bytes you may send", max)
	case n == 0:
		return nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "no document data")
	}
	ok = true
	return &upload{w: w, size: n, sha256: hex.EncodeToString(h.Sum(nil)), format: detectFormat(head.buf)}, nil
}

// storeIPPJob commits the document and inserts its job; the document is
// removed if the job cannot be stored. A document whose bytes are none of
// the formats taken is refused, whatever the client called it.
func (s *Server) storeIPPJob(ctx context.Context, owner string, t ippTicket, up *upload) (jobView, error) {
	stored := false
	defer func() {
		if !stored {
			s.discardUpload(up)
		}
	}()
	if !slices.Contains(ippFormats, up.format) {
		return jobView{}, ippserver.Errorf(goipp.StatusErrorDocumentFormatError, "the document is not a PDF, JPEG or PWG raster")
	}
	id, err := randomID()
	if err != nil {
		return jobView{}, fmt.Errorf("store IPP job: %w", err)
	}
	if err := up.w.Commit(ctx, id); err != nil {
		return jobView{}, fmt.Errorf("store IPP job: %w", err)
	}
	up.id = id
	j := jobView{ID: id, Owner: owner, Name: t.name, Copies: t.copies, Color: t.color, Duplex: t.duplex,
		Media: t.media, Format: up.format, Size: up.size, SHA256: up.sha256, State: stateHeld, SubmittedAt: s.now().UTC()}
	if j.Pages, err = s.countIPPPages(ctx, id, up); err != nil {
		return jobView{}, err
	}
	leaseAgent, err := s.leaseAgentFor(ctx, owner, nil)
	if err != nil {
		return jobView{}, fmt.Errorf("store IPP job: %w", err)
	}
	if err := s.insertJob(ctx, j, leaseAgent); err != nil {
		return jobView{}, fmt.Errorf("store IPP job: %w", err)
	}
	stored = true
	s.sweepUploads(ctx)
	if j, err = s.job(ctx, id); err != nil { // its seq is the IPP job-id
		return jobView{}, err
	}
	s.log.Info("job printed to the hub", "job", id, "owner", owner, "format", j.Format, "size", j.Size, "pages", j.Pages,
		"leased_to", leaseAgent)
	if leaseAgent != "" {
		s.pushLeasesChanged(leaseAgent)
	}
	return j, nil
}

// countIPPPages counts a document's pages: pdfpages for a PDF (0, unknown,
// when it cannot), 1 for a JPEG, the page headers of a PWG raster (whose
// stream must be whole).
func (s *Server) countIPPPages(ctx context.Context, id string, up *upload) (int, error) {
	switch up.format {
	case formatPDF:
		return min(s.countPages(ctx, id, up.size), maxJobPages), nil
	case formatPWGRaster:
		f, err := s.docs().Open(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("count pages: %w", err)
		}
		defer f.Close()
		n, err := countPWGPages(f)
		if errors.Is(err, errPWGMalformed) {
			return 0, ippserver.Errorf(goipp.StatusErrorDocumentFormatError, "the PWG raster stream is malformed")
		}
		if err != nil {
			return 0, fmt.Errorf("count pages: %w", err)
		}
		return min(n, maxJobPages), nil
	}
	return 1, nil
}

// ippJobColumns is jobColumns for the user's own job by IPP job-id (seq).
func (c *ippRequest) ownJob() (jobView, error) {
	id, err := ippserver.JobID(c.req.Operation)
	if err != nil {
		return jobView{}, err
	}
	j, err := scanJob(c.s.db.QueryRowContext(c.ctx(), "SELECT "+jobColumns+" FROM jobs WHERE seq = ? AND owner = ?", id, c.user))
	if errors.Is(err, sql.ErrNoRows) {
		// Another person's job is as absent as one that never was.
		return j, ippserver.Errorf(goipp.StatusErrorNotFound, "no job %d", id)
	}
	if err != nil {
		return j, fmt.Errorf("read IPP job %d: %w", id, err)
	}
	return j, nil
}

func (c *ippRequest) getJobAttributes() (goipp.Groups, error) {
	j, err := c.ownJob()
	if err != nil {
		return nil, err
	}
	attrs := ippserver.Filter(c.jobAttributes(j), ippserver.Requested(c.req.Operation))
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: attrs}}, nil
}

// ippMaxListed bounds the jobs Get-Jobs lists.
const ippMaxListed = 500

// getJobs lists the user's own jobs, newest first: not-completed (held,
// printing) by default, completed or all when asked.
func (c *ippRequest) getJobs() (goipp.Groups, error) {
	if err := c.needPrinterURI(); err != nil {
		return nil, err
	}
	var states []any
	switch which := c.opString("which-jobs", "not-completed"); which {
	case "not-completed":
		states = []any{stateHeld, statePrinting}
	case "completed":
		states = []any{statePrinted, stateFailed, stateDeleted, stateExpired}
	case "all":
		states = []any{stateHeld, statePrinting, statePrinted, stateFailed, stateDeleted, stateExpired}
	default:
		return nil, ippserver.Errorf(goipp.StatusErrorAttributesOrValues, "which-jobs %q is not supported", which)
	}
	limit := ippMaxListed
	if a, ok := ippserver.Attr(c.req.Operation, "limit"); ok {
		if n, ok := ippserver.IntValue(a); ok && n > 0 && n < limit {
			limit = n
		}
	}
	args := append([]any{c.user}, states...)
	args = append(args, limit)
	rows, err := c.s.db.QueryContext(c.ctx(), "SELECT "+jobColumns+" FROM jobs WHERE owner = ? AND state IN (?"+
		strings.Repeat(", ?", len(states)-1)+") ORDER BY seq DESC LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("list IPP jobs: %w", err)
	}
	defer rows.Close()
	want := ippserver.Requested(c.req.Operation, "job-id", "job-uri")
	var groups goipp.Groups
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list IPP jobs: %w", err)
		}
		groups = append(groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: ippserver.Filter(c.jobAttributes(j), want)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list IPP jobs: %w", err)
	}
	return groups, nil
}

// cancelJob deletes the user's own job while it is held; a job being
// printed, or done, is client-error-not-possible.
func (c *ippRequest) cancelJob() error {
	j, err := c.ownJob()
	if err != nil {
		return err
	}
	res, err := c.s.db.ExecContext(c.ctx(), "UPDATE jobs SET state = ?, reason = ? WHERE id = ? AND state = ?",
		stateDeleted, "canceled by its owner", j.ID, stateHeld)
	if err != nil {
		return fmt.Errorf("cancel IPP job %s: %w", j.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ippserver.Errorf(goipp.StatusErrorNotPossible, "job %d is %s: only a held job can be canceled", j.seq, j.State)
	}
	if _, err := c.s.db.ExecContext(c.ctx(), "DELETE FROM download_tokens WHERE job_id = ?", j.ID); err != nil {
		return fmt.Errorf("cancel IPP job %s: %w", j.ID, err)
	}
	c.s.removeDocument(j.ID)
	c.s.leaseJobGone(c.ctx(), j.ID)
	c.s.log.Info("job canceled by its owner", "job", j.ID, "owner", c.user)
	return nil
}
