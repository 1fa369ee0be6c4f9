package docstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// fkViolation is PostgreSQL's foreign_key_violation: a chunk of an upload
// whose row was swept.
const fkViolation = "23503"

// ChunkSize is the size of the rows a Postgres store writes a document
// in (the last one is shorter). A reader holds one chunk, a writer one.
const ChunkSize = 256 << 10

// Postgres keeps documents in two tables of the hub's PostgreSQL
// database (the hub's migrations make them):
//
//	documents (blob BIGINT identity PRIMARY KEY, id TEXT UNIQUE,
//	           size BIGINT, chunk_size BIGINT, started_at BIGINT)
//	document_chunks (blob BIGINT REFERENCES documents ON DELETE CASCADE,
//	           n BIGINT, data BYTEA, PRIMARY KEY (blob, n))
//
// An upload is a documents row with no id yet, its chunks each inserted
// in a short transaction of its own as they arrive; Commit names it.
// Chunks hang off the numeric blob, not the id, so that naming a
// document rewrites one row, not all its chunks.
//
// It runs on the raw pool (store.DB.SQL()), outside the hub's writers'
// lock: a chunk belongs to one upload that nothing else reads or writes
// until it is committed, and holding the cluster-wide lock for each of a
// large document's chunks would stall every other write of every node.
type Postgres struct {
	db *sql.DB
}

// NewPostgres keeps documents in the database db (a pgx pool).
func NewPostgres(db *sql.DB) *Postgres { return &Postgres{db: db} }

// Create inserts the upload's documents row.
func (p *Postgres) Create(ctx context.Context) (Writer, error) {
	var blob int64
	err := p.db.QueryRowContext(ctx,
		"INSERT INTO documents (size, chunk_size, started_at) VALUES (0, $1, $2) RETURNING blob",
		ChunkSize, time.Now().UnixNano()).Scan(&blob)
	if err != nil {
		return nil, fmt.Errorf("docstore: create upload: %w", err)
	}
	return &pgWriter{p: p, ctx: ctx, blob: blob, buf: make([]byte, 0, ChunkSize)}, nil
}

// Open finds the committed document id; its chunks are read as the
// reader reaches them.
func (p *Postgres) Open(ctx context.Context, id string) (Reader, error) {
	r := &pgReader{p: p, ctx: ctx, id: id, cur: -1}
	err := p.db.QueryRowContext(ctx, "SELECT blob, size, chunk_size FROM documents WHERE id = $1", id).
		Scan(&r.blob, &r.size, &r.chunk)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("docstore: open %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("docstore: open %s: %w", id, err)
	}
	if r.chunk <= 0 {
		return nil, fmt.Errorf("docstore: open %s: chunk size %d", id, r.chunk)
	}
	return r, nil
}

// Remove deletes document id and, by the foreign key, its chunks.
func (p *Postgres) Remove(ctx context.Context, id string) error {
	if _, err := p.db.ExecContext(ctx, "DELETE FROM documents WHERE id = $1", id); err != nil {
		return fmt.Errorf("docstore: remove %s: %w", id, err)
	}
	return nil
}

// Sweep deletes the uncommitted uploads started more than age ago, by
// the clock of the node that started them (nodes' clocks agree far
// better than the hours an upload is given).
func (p *Postgres) Sweep(ctx context.Context, age time.Duration) (int, error) {
	res, err := p.db.ExecContext(ctx, "DELETE FROM documents WHERE id IS NULL AND started_at <= $1",
		time.Now().Add(-age).UnixNano())
	if err != nil {
		return 0, fmt.Errorf("docstore: sweep: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("docstore: sweep: %w", err)
	}
	return int(n), nil
}

// pgWriter fills one chunk at a time and inserts it when full.
type pgWriter struct {
	p    *Postgres
	ctx  context.Context
	blob int64
	n    int64 // chunks inserted
	size int64 // bytes inserted
	buf  []byte
	done bool
}

func (w *pgWriter) Write(b []byte) (int, error) {
	if w.done {
		return 0, errors.New("docstore: write after the upload ended")
	}
	written := 0
	for len(b) > 0 {
		k := min(len(b), ChunkSize-len(w.buf))
		w.buf = append(w.buf, b[:k]...)
		b, written = b[k:], written+k
		if len(w.buf) == ChunkSize {
			if err := w.flush(w.ctx); err != nil {
				return written - k, err
			}
		}
	}
	return written, nil
}

// flush inserts the buffered chunk, if any. A swept upload's row is gone:
// the foreign key refuses the chunk.
func (w *pgWriter) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.p.db.ExecContext(ctx, "INSERT INTO document_chunks (blob, n, data) VALUES ($1, $2, $3)",
		w.blob, w.n, w.buf)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == fkViolation {
		return fmt.Errorf("docstore: write chunk %d: %w", w.n, ErrAbandoned)
	}
	if err != nil {
		return fmt.Errorf("docstore: write chunk %d: %w", w.n, err)
	}
	w.n++
	w.size += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Commit inserts the last chunk and names the upload id. Each chunk was
// committed as it was inserted; naming the row is the one step that
// makes the document visible.
func (w *pgWriter) Commit(ctx context.Context, id string) error {
	if w.done {
		return errors.New("docstore: upload already ended")
	}
	if err := w.flush(ctx); err != nil {
		return fmt.Errorf("docstore: commit %s: %w", id, err)
	}
	res, err := w.p.db.ExecContext(ctx, "UPDATE documents SET id = $1, size = $2 WHERE blob = $3 AND id IS NULL",
		id, w.size, w.blob)
	if err != nil {
		return fmt.Errorf("docstore: commit %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("docstore: commit %s: %w", id, ErrAbandoned)
	}
	w.done = true
	return nil
}

// Abort deletes the upload's row and chunks, even when the request that
// made it was cancelled.
func (w *pgWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.buf = nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	if _, err := w.p.db.ExecContext(ctx, "DELETE FROM documents WHERE blob = $1 AND id IS NULL", w.blob); err != nil {
		return fmt.Errorf("docstore: abort: %w", err)
	}
	return nil
}

// pgReader reads a document chunk by chunk, holding the current one.
type pgReader struct {
	p     *Postgres
	ctx   context.Context
	id    string
	blob  int64
	size  int64
	chunk int64
	off   int64
	cur   int64 // the chunk in buf, -1 for none
	buf   []byte
}

func (r *pgReader) Size() int64 { return r.size }

func (r *pgReader) Read(b []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n, err := r.ReadAt(b[:min(int64(len(b)), r.size-r.off)], r.off)
	r.off += int64(n)
	return n, err
}

// ReadAt reads len(b) bytes at off, loading the chunks it crosses (a PDF's
// page count reads a document here and there).
func (r *pgReader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("docstore: read before the start")
	}
	n := 0
	for n < len(b) {
		if off >= r.size {
			return n, io.EOF
		}
		if c := off / r.chunk; c != r.cur {
			if err := r.load(c); err != nil {
				return n, err
			}
		}
		k := copy(b[n:], r.buf[off-r.cur*r.chunk:])
		n, off = n+k, off+int64(k)
	}
	return n, nil
}

// load reads chunk n into buf.
func (r *pgReader) load(n int64) error {
	r.cur = -1
	err := r.p.db.QueryRowContext(r.ctx, "SELECT data FROM document_chunks WHERE blob = $1 AND n = $2", r.blob, n).
		Scan(&r.buf)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("docstore: read %s: chunk %d missing (the document was removed?): %w", r.id, n, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("docstore: read %s chunk %d: %w", r.id, n, err)
	}
	if want := min(r.chunk, r.size-n*r.chunk); int64(len(r.buf)) != want {
		return fmt.Errorf("docstore: read %s: chunk %d has %d bytes, want %d", r.id, n, len(r.buf), want)
	}
	r.cur = n
	return nil
}

func (r *pgReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return r.off, fmt.Errorf("docstore: seek: whence %d", whence)
	}
	if offset < 0 {
		return r.off, errors.New("docstore: seek before the start")
	}
	r.off = offset
	return offset, nil
}

// Close lets the chunk go; nothing else is held between reads.
func (r *pgReader) Close() error {
	r.buf = nil
	return nil
}
