package hub

import (
	"context"
	"time"

	"github.com/tessera-print/tessera/hub/docstore"
	"github.com/tessera-print/tessera/hub/store"
)

// Where job documents live (issue 13, point 2): on SQLite the files of
// the jobs directory, as before; on PostgreSQL the database itself, so
// that a job uploaded through one node is downloaded through any other.
// Both stream: neither holds a document whole in memory.

// documentTimeout bounds the removal of a document, which runs apart from
// the request that asked for it.
const documentTimeout = time.Minute

// uploadSweepAge is how old an upload not committed must be, on
// PostgreSQL, before a node removes it as abandoned: other nodes may be
// receiving theirs at the time, and a 512 MiB upload over a slow link
// takes a while.
const uploadSweepAge = 6 * time.Hour

// docs is the hub's document store. Either kind is a small value over
// what the Server holds, so there is nothing to keep or close.
func (s *Server) docs() docstore.Store {
	if s.db.Engine() == store.Postgres {
		return docstore.NewPostgres(s.db.SQL())
	}
	return docstore.Dir(s.jobsDir)
}

// sweepUploads removes, on PostgreSQL, the uploads abandoned by a node
// that crashed or lost its client mid-upload. Each upload runs it once it
// is done, so no node needs a schedule of its own for it; a SQLite hub's
// leftovers go at start (removeStaleUploads).
func (s *Server) sweepUploads(ctx context.Context) {
	if s.db.Engine() != store.Postgres {
		return
	}
	n, err := s.docs().Sweep(ctx, uploadSweepAge)
	if err != nil {
		s.log.Warn("sweep abandoned uploads", "err", err)
		return
	}
	if n > 0 {
		s.log.Info("abandoned uploads removed", "count", n)
	}
}

// discardUpload undoes an upload whose job was not stored: the upload
// aborted, or its document removed once committed.
func (s *Server) discardUpload(up *upload) {
	if up.id != "" {
		s.removeDocument(up.id)
		return
	}
	if err := up.w.Abort(); err != nil {
		s.log.Warn("discard upload", "err", err)
	}
}
