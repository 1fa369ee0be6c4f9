package docstore

import (
	"context"
	"fmt"
	"io"
)

// Copy copies document id from src to dst under the same id, streamed
// (a SQLite hub's files into a hub on PostgreSQL: copy-store), and
// returns its size. A copy already in dst is an error from dst's Commit;
// a copy cut short leaves nothing in dst.
func Copy(ctx context.Context, dst, src Store, id string) (int64, error) {
	r, err := src.Open(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("docstore: copy %s: %w", id, err)
	}
	defer r.Close()
	w, err := dst.Create(ctx)
	if err != nil {
		return 0, fmt.Errorf("docstore: copy %s: %w", id, err)
	}
	defer w.Abort()
	n, err := io.Copy(w, r)
	if err != nil {
		return n, fmt.Errorf("docstore: copy %s: %w", id, err)
	}
	if n != r.Size() {
		return n, fmt.Errorf("docstore: copy %s: read %d bytes of %d", id, n, r.Size())
	}
	if err := w.Commit(ctx, id); err != nil {
		return n, fmt.Errorf("docstore: copy %s: %w", id, err)
	}
	return n, nil
}
