package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-print/tessera/hub/docstore"
	"github.com/tessera-print/tessera/pdfpages"
	"github.com/tessera-print/tessera/protocol"
)

// Job states at the hub.
const (
	stateHeld     = "held"
	statePrinting = "printing"
	statePrinted  = "printed"
	stateFailed   = "failed"
	stateDeleted  = "deleted"
	stateExpired  = "expired"
)

// Document formats, detected from the first bytes.
const (
	formatPDF         = "application/pdf"
	formatPostScript  = "application/postscript"
	formatOctetStream = "application/octet-stream"
)

const (
	maxJobName = 255
	maxCopies  = 999
	// maxJobPages bounds a job's pages, given or counted: with maxCopies,
	// pages × copies stays below maxQuota, so no product overflows.
	maxJobPages  = 1_000_000
	maxFieldSize = 4 << 10
	// multipartSlack bounds everything in an upload besides the file itself.
	multipartSlack = 1 << 20
)

// jobView is a job as the admin API shows it.
type jobView struct {
	ID           string     `json:"id"`
	Owner        string     `json:"owner"`
	Name         string     `json:"name"`
	Pages        int        `json:"pages"`
	Copies       int        `json:"copies"`
	Color        bool       `json:"color"`
	Duplex       bool       `json:"duplex"`
	Format       string     `json:"format"`
	Size         int64      `json:"size"`
	SHA256       string     `json:"sha256"`
	State        string     `json:"state"`
	Reason       string     `json:"reason"`
	SubmittedAt  time.Time  `json:"submitted_at"`
	PrintedAt    *time.Time `json:"printed_at"`
	PrintedPages int        `json:"printed_pages"`
	DelegatedBy  string     `json:"delegated_by"`
	Media        string     `json:"media"`
	// Lease is the job's active lease (GET of one job only; absent: none).
	Lease *leaseView `json:"lease,omitempty"`

	seq           int64
	printingAgent string // the agent whose fetch claimed the job, "" for none
	claimID       string // the current claim: the last fetch's
}

func (j jobView) protocolJob() protocol.Job {
	return protocol.Job{
		ID: j.ID, Owner: j.Owner, Name: j.Name, Pages: j.Pages, Copies: j.Copies,
		Color: j.Color, Duplex: j.Duplex, Size: j.Size, Format: j.Format, SubmittedAt: j.SubmittedAt,
		DelegatedBy: j.DelegatedBy, Media: j.Media,
	}
}

const jobColumns = `seq, id, owner, name, pages, copies, color, duplex, format, size, sha256,
	state, reason, submitted_at, printed_at, printed_pages, delegated_by, media, printing_agent, claim_id`

type scanner interface{ Scan(dest ...any) error }

func scanJob(sc scanner) (jobView, error) {
	var j jobView
	var submitted int64
	var printed sql.NullInt64
	err := sc.Scan(&j.seq, &j.ID, &j.Owner, &j.Name, &j.Pages, &j.Copies, &j.Color, &j.Duplex, &j.Format,
		&j.Size, &j.SHA256, &j.State, &j.Reason, &submitted, &printed, &j.PrintedPages, &j.DelegatedBy, &j.Media,
		&j.printingAgent, &j.claimID)
	if err != nil {
		return j, err
	}
	j.SubmittedAt = fromNanos(submitted)
	j.PrintedAt = nullTime(printed)
	return j, nil
}

// job reads one job; errNotFound when there is none.
func (s *Server) job(ctx context.Context, id string) (jobView, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, errNotFound("no job %q", id)
	}
	if err != nil {
		return j, fmt.Errorf("read job %s: %w", id, err)
	}
	return j, nil
}

func (s *Server) documentPath(id string) string { return filepath.Join(s.jobsDir, id) }

// removeDocument deletes a job's document; a missing one is fine. It runs
// to its end even when the request that asked for it is gone.
func (s *Server) removeDocument(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), documentTimeout)
	defer cancel()
	if err := s.docs().Remove(ctx, id); err != nil {
		s.log.Error("remove job document", "job", id, "err", err)
	}
}

// detectFormat names the document format from its first bytes.
func detectFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return formatPDF
	case bytes.HasPrefix(head, []byte("%!PS")):
		return formatPostScript
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return formatJPEG
	case bytes.HasPrefix(head, []byte("RaS2")):
		return formatPWGRaster
	default:
		return formatOctetStream
	}
}

// headWriter keeps the first bytes written through it.
type headWriter struct{ buf []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if n := 8 - len(h.buf); n > 0 {
		h.buf = append(h.buf, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// upload is an uploaded document: in the document store, not committed
// until id is set.
type upload struct {
	w        docstore.Writer
	id       string
	filename string
	size     int64
	sha256   string
	format   string
}

// saveUpload streams a multipart file part to an upload in the document
// store, hashing it on the way and refusing more than max bytes.
func (s *Server) saveUpload(ctx context.Context, part *multipart.Part, max int64) (*upload, error) {
	w, err := s.docs().Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("save upload: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
		}
	}()
	h := sha256.New()
	head := &headWriter{}
	src := &sourceReader{r: io.LimitReader(part, max+1)}
	n, err := io.Copy(io.MultiWriter(w, h, head), src)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge("file larger than %d bytes", max)
		}
		if src.err == nil { // writing failed: the hub's fault, logged, not told
			return nil, fmt.Errorf("save upload: %w", err)
		}
		return nil, errBadRequest("the file part is cut short or malformed")
	}
	if n > max {
		return nil, errTooLarge("file larger than %d bytes", max)
	}
	if n == 0 {
		return nil, errInvalid("file is empty")
	}
	ok = true
	return &upload{w: w, filename: part.FileName(), size: n,
		sha256: hex.EncodeToString(h.Sum(nil)), format: detectFormat(head.buf)}, nil
}

func (s *Server) uploadJob(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+multipartSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		return errBadRequest("want a multipart/form-data body with its boundary")
	}
	var up *upload
	defer func() {
		if up != nil {
			s.discardUpload(up)
		}
	}()
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return errTooLarge("request larger than %d bytes", mbe.Limit)
			}
			return errBadRequest("the multipart body is cut short or malformed")
		}
		name := part.FormName()
		switch name {
		case "file":
			if up != nil {
				part.Close()
				return errBadRequest("more than one file part")
			}
			up, err = s.saveUpload(r.Context(), part, s.cfg.MaxUpload)
			part.Close()
			if err != nil {
				return err
			}
		case "owner", "name", "copies", "color", "duplex", "pages", "delegated_by", "media", "agent_id":
			if _, dup := fields[name]; dup {
				part.Close()
				return errBadRequest("field %q given twice", name)
			}
			b, err := io.ReadAll(io.LimitReader(part, maxFieldSize+1))
			part.Close()
			if err != nil {
				return errBadRequest("multipart field %q is cut short or malformed", name)
			}
			if len(b) > maxFieldSize {
				return errBadRequest("field %q longer than %d bytes", name, maxFieldSize)
			}
			fields[name] = strings.TrimSpace(string(b))
		default:
			part.Close()
			return errBadRequest("unknown field %q", name)
		}
	}
	if up == nil {
		return errInvalid("file is required")
	}
	id, err := randomID()
	if err != nil {
		return fmt.Errorf("upload job: %w", err)
	}
	// The document is in place before the row that points at it exists, so
	// a job is never listed without its document; committed first, it can
	// be read to count its pages. The deferred cleanup removes it unless
	// the insert succeeds.
	if err := up.w.Commit(r.Context(), id); err != nil {
		return fmt.Errorf("upload job: %w", err)
	}
	up.id = id
	j, err := s.jobFromFields(r.Context(), fields, up)
	if err != nil {
		return err
	}
	leaseAgent, err := s.leaseAgentFor(r.Context(), j.Owner, fields)
	if err != nil {
		return err
	}
	j.ID = id
	if err := s.insertJob(r.Context(), j, leaseAgent); err != nil {
		return fmt.Errorf("upload job: %w", err)
	}
	up = nil
	s.sweepUploads(r.Context())
	s.log.Info("job uploaded", "job", j.ID, "owner", j.Owner, "format", j.Format, "size", j.Size, "pages", j.Pages,
		"leased_to", leaseAgent)
	if leaseAgent != "" {
		s.pushLeasesChanged(leaseAgent)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": j.ID})
	return nil
}

// jobFromFields is the job an upload describes: its fields checked (copies
// 1 to maxCopies, pages 1 to maxJobPages, so pages × copies cannot
// overflow), its pages counted when not given.
func (s *Server) jobFromFields(ctx context.Context, fields map[string]string, up *upload) (jobView, error) {
	j := jobView{Owner: fields["owner"], Name: fields["name"], DelegatedBy: fields["delegated_by"], Media: fields["media"], Copies: 1, Format: up.format,
		Size: up.size, SHA256: up.sha256, State: stateHeld, SubmittedAt: s.now().UTC()}
	if j.Name == "" {
		j.Name = strings.TrimSpace(filepath.Base(up.filename))
		if j.Name == "." || j.Name == "/" {
			j.Name = ""
		}
	}
	if j.Owner == "" {
		return j, errInvalid("owner is required")
	}
	if j.Name == "" {
		return j, errInvalid("name is required (or a file name in the file part)")
	}
	if !utf8.ValidString(j.Name) || utf8.RuneCountInString(j.Name) > maxJobName {
		return j, errInvalid("name: at most %d characters", maxJobName)
	}
	if v, ok := fields["copies"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCopies {
			return j, errInvalid("copies: an integer from 1 to %d", maxCopies)
		}
		j.Copies = n
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"color", &j.Color}, {"duplex", &j.Duplex}} {
		if v, ok := fields[b.name]; ok {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return j, errInvalid("%s: true or false", b.name)
			}
			*b.dst = x
		}
	}
	if !validMedia(j.Media) {
		return j, errInvalid("media: an IPP media keyword such as iso_a4_210x297mm")
	}
	if v, ok := fields["pages"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxJobPages {
			return j, errInvalid("pages: an integer from 1 to %d", maxJobPages)
		}
		j.Pages = n
	} else if j.Format == formatPDF {
		j.Pages = s.countPages(ctx, up.id, up.size)
	}
	if j.Pages > maxJobPages {
		return j, errInvalid("the document has %d pages, more than %d", j.Pages, maxJobPages)
	}
	return j, nil
}

// countPages counts the pages of the PDF document id; 0 (unknown) when it
// cannot, since a printer may still print what the counter does not
// understand.
func (s *Server) countPages(ctx context.Context, id string, size int64) int {
	f, err := s.docs().Open(ctx, id)
	if err != nil {
		s.log.Warn("count pages", "err", err)
		return 0
	}
	defer f.Close()
	n, err := pdfpages.Count(f, size)
	if err != nil {
		s.log.Warn("count pages: page count unknown", "err", err)
		return 0
	}
	return n
}

func validJobState(s string) bool {
	switch s {
	case stateHeld, statePrinting, statePrinted, stateFailed, stateDeleted, stateExpired:
		return true
	}
	return false
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	where := []string{"seq > ?"}
	args := []any{after}
	if owner := q.Get("owner"); owner != "" {
		where, args = append(where, "owner = ?"), append(args, owner)
	}
	if state := q.Get("state"); state != "" {
		if !validJobState(state) {
			return errBadRequest("state: one of held, printing, printed, failed, deleted, expired")
		}
		where, args = append(where, "state = ?"), append(args, state)
	}
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(r.Context(),
		"SELECT "+jobColumns+" FROM jobs WHERE "+strings.Join(where, " AND ")+" ORDER BY seq LIMIT ?", args...)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	jobs := []jobView{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return fmt.Errorf("list jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	var next *string
	if len(jobs) > limit {
		jobs = jobs[:limit]
		c := encodeCursor(jobs[limit-1].seq)
		next = &c
	}
	writeJSON(w, http.StatusOK, struct {
		Jobs []jobView `json:"jobs"`
		Next *string   `json:"next"`
	}{jobs, next})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.job(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if j.Lease, err = s.jobLease(r.Context(), j); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.job(r.Context(), id); err != nil {
		return err
	}
	if err := s.markDeleted(r.Context(), id, "deleted by an administrator"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// markDeleted sets a job deleted and removes its document.
func (s *Server) markDeleted(ctx context.Context, id, reason string) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE jobs SET state = ?, reason = ? WHERE id = ?", stateDeleted, reason, id); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM download_tokens WHERE job_id = ?", id); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	s.removeDocument(id)
	s.log.Info("job deleted", "job", id)
	s.leaseJobGone(ctx, id)
	return nil
}

// validMedia accepts an IPP media keyword (RFC 8011 keyword syntax), or "".
func validMedia(m string) bool {
	if len(m) > 64 {
		return false
	}
	for _, r := range m {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
