// Package docstore keeps the hub's job documents: the files users upload
// and agents download to print. Every implementation streams: a document
// goes in and comes out a piece at a time, never held whole in memory (a
// document may be as large as the hub's --max-upload, 512 MiB by default,
// on a 512 MB ARM box).
//
// Two implementations: Dir, files in the hub's data directory (a SQLite
// hub: one node, the documents beside its database), and Postgres, chunks
// in the hub's PostgreSQL database, so that every node of a cluster
// reaches every document (issue 13, point 2). docs/ARCHITECTURE.md says
// why chunked rows rather than large objects, with the measurements.
//
// An upload becomes visible only when its Writer commits it under an id;
// one that never commits (its hub crashed, its client went away) is an
// abandoned upload, removed by Sweep.
package docstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned (wrapped) by Open for an id that names no
// document: never committed, removed, or unknown.
var ErrNotFound = errors.New("docstore: no such document")

// ErrAbandoned is returned (wrapped) by a Writer whose upload was swept
// before it committed.
var ErrAbandoned = errors.New("docstore: upload swept before it was committed")

// Store keeps documents under ids the caller chooses (the hub's job ids).
// Its methods are safe for concurrent use.
type Store interface {
	// Create starts an upload. ctx governs the Writer's writes until
	// it commits or aborts.
	Create(ctx context.Context) (Writer, error)
	// Open opens a committed document for reading; ErrNotFound when id
	// names none. The reader seeks, so that a download can answer
	// Range requests.
	Open(ctx context.Context, id string) (Reader, error)
	// Remove deletes a document; an id that names none is not an error.
	Remove(ctx context.Context, id string) error
	// Sweep removes the uploads started more than age ago and never
	// committed nor aborted, and returns how many it removed. Age 0
	// sweeps every upload in progress: only for a store no one else
	// writes to, at start.
	Sweep(ctx context.Context, age time.Duration) (int, error)
}

// Writer is an upload in progress. Exactly one of Commit and Abort ends
// it; Abort after Commit does nothing, so a caller may defer Abort.
type Writer interface {
	io.Writer
	// Commit makes what was written the document id, durably, and
	// ends the upload. id must name no document yet.
	Commit(ctx context.Context, id string) error
	// Abort discards the upload.
	Abort() error
}

// Reader reads one document. It is not safe for concurrent use.
type Reader interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Size is the document's length in bytes.
	Size() int64
}

// abortTimeout bounds the clean-up of an aborted upload, which runs even
// when the request that started it was cancelled (a sweep removes what
// it could not).
const abortTimeout = 30 * time.Second
