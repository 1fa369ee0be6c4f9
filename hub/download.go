package hub

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/tessera-print/tessera/hub/docstore"
)

// serveDocument streams a job's document to an agent holding a download
// token from FetchJob. http.ServeContent answers Range requests, so an
// interrupted download resumes with the same token while it is valid.
func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	tok, ok := bearer(r)
	if !ok {
		return errUnauthorized("download token required")
	}
	var expires int64
	err := s.db.QueryRowContext(r.Context(),
		"SELECT expires_at FROM download_tokens WHERE token_hash = ? AND job_id = ?", tokenHash(tok), id).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !s.now().Before(fromNanos(expires))) {
		return errUnauthorized("download token invalid or expired")
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", id, err)
	}
	j, err := s.job(r.Context(), id)
	if err != nil {
		return err
	}
	f, err := s.docs().Open(r.Context(), id)
	if errors.Is(err, docstore.ErrNotFound) {
		return errNotFound("job %s has no document any more (%s)", id, j.State)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", id, err)
	}
	defer f.Close()
	w.Header().Set("Content-Type", j.Format)
	w.Header().Set("ETag", `"`+j.SHA256+`"`)
	w.Header().Set("Cache-Control", "no-store")
	s.log.Info("document download", "job", id, "range", r.Header.Get("Range"))
	http.ServeContent(w, r, "", j.SubmittedAt, f)
	return nil
}
