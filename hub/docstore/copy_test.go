package docstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCopy copies documents each way between the two stores; a missing
// source and an id the destination has already fail and leave nothing.
func TestCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, pg := openDir(t), openPostgres(t)
	cases := []struct {
		name     string
		src, dst Store
	}{{"dir to postgres", dir, pg}, {"postgres to dir", pg, dir}}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := []string{"to-pg", "to-dir"}[i]
			doc := randomDoc(t, 2*ChunkSize+99)
			put(ctx, t, c.src, id, doc, 70_000)
			if n, err := Copy(ctx, c.dst, c.src, id); err != nil || n != int64(len(doc)) {
				t.Fatalf("Copy: %d, %v", n, err)
			}
			check(ctx, t, c.dst, id, doc)
			if _, err := Copy(ctx, c.dst, c.src, id); err == nil {
				t.Error("a second copy under the same id succeeded")
			}
			if _, err := Copy(ctx, c.dst, c.src, "missing"); !errors.Is(err, ErrNotFound) {
				t.Errorf("copy of a missing document: %v, want ErrNotFound", err)
			}
			if n, err := c.dst.Sweep(ctx, 0); err != nil || n != 0 {
				t.Errorf("failed copies left %d uploads (%v)", n, err)
			}
		})
	}
}
