package docstore

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// benchSize is the document each round of BenchmarkDocuments puts and
// reads back; benchPiece the writes it comes in (io.Copy's buffer, as an
// upload's multipart part arrives).
const (
	benchSize  = 16 << 20
	benchPiece = 32 << 10
)

// BenchmarkDocuments puts a 16 MiB document and reads it back whole, on
// each Store and, for the choice docs/ARCHITECTURE.md explains, on
// PostgreSQL's large objects. Metrics: put-MB/s and read-MB/s, and
// peak-heap-MiB, the most live heap (as each garbage collection found
// it) seen during the rounds above what was live before them.
//
//	go test -run '^$' -bench BenchmarkDocuments -benchtime 3x -count 5 ./hub/docstore/
func BenchmarkDocuments(b *testing.B) {
	doc := randomDoc(b, benchSize)
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			benchRounds(b, doc, func(ctx context.Context, id string) (io.ReadCloser, error) {
				put(ctx, b, s, id, doc, benchPiece)
				return s.Open(ctx, id)
			}, func(ctx context.Context, id string) error { return s.Remove(ctx, id) })
		})
	}
	b.Run("postgres-largeobject", func(b *testing.B) {
		db, err := sql.Open("pgx", sharedPG.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		lo := &largeObjects{db: db}
		benchRounds(b, doc, func(ctx context.Context, id string) (io.ReadCloser, error) {
			return lo.putOpen(ctx, doc)
		}, func(ctx context.Context, id string) error { return nil })
	})
}

// benchRounds times putOpen (the put, then an open) and reading what it
// opened, b.N times.
func benchRounds(b *testing.B, doc []byte, putOpen func(context.Context, string) (io.ReadCloser, error),
	remove func(context.Context, string) error) {
	ctx := context.Background()
	b.SetBytes(int64(len(doc)))
	var put, read time.Duration
	peak := startHeapWatch()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench%d", i)
		t0 := time.Now()
		r, err := putOpen(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil || n != int64(len(doc)) {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		put, read = put+t1.Sub(t0), read+time.Since(t1)
		if err := remove(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	mb := float64(b.N) * float64(len(doc)) / 1e6
	b.ReportMetric(mb/put.Seconds(), "put-MB/s")
	b.ReportMetric(mb/read.Seconds(), "read-MB/s")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
}

// startHeapWatch samples the live heap every millisecond until the
// function it returns is called, which returns the most seen above the
// heap live at the start (the benchmark's document itself excluded).
func startHeapWatch() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var mu sync.Mutex
	var most uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: sample[0].Name}}
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(s)
			mu.Lock()
			most = max(most, s[0].Value.Uint64())
			mu.Unlock()
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return most - min(most, base)
	}
}

// largeObjects is the alternative the Postgres store was measured
// against: a document as one PostgreSQL large object, written in one
// transaction (a large object's descriptor lives only as long as its
// transaction) and read in another.
type largeObjects struct{ db *sql.DB }

// putOpen writes doc as a large object and opens it for reading; closing
// the reader ends the read transaction and unlinks the object.
func (l *largeObjects) putOpen(ctx context.Context, doc []byte) (io.ReadCloser, error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var pc *pgx.Conn
	if err := conn.Raw(func(dc any) error { pc = dc.(*stdlib.Conn).Conn(); return nil }); err != nil {
		conn.Close()
		return nil, err
	}
	oid, err := writeLargeObject(ctx, pc, doc)
	if err != nil {
		conn.Close()
		return nil, err
	}
	tx, err := pc.Begin(ctx)
	if err != nil {
		conn.Close()
		return nil, err
	}
	los := tx.LargeObjects()
	obj, err := los.Open(ctx, oid, pgx.LargeObjectModeRead)
	if err != nil {
		tx.Rollback(ctx)
		conn.Close()
		return nil, err
	}
	return &loReader{Reader: obj, close: func() error {
		defer conn.Close()
		los.Unlink(ctx, oid)
		return tx.Commit(ctx)
	}}, nil
}

func writeLargeObject(ctx context.Context, pc *pgx.Conn, doc []byte) (uint32, error) {
	tx, err := pc.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	los := tx.LargeObjects()
	oid, err := los.Create(ctx, 0)
	if err != nil {
		return 0, err
	}
	obj, err := los.Open(ctx, oid, pgx.LargeObjectModeWrite)
	if err != nil {
		return 0, err
	}
	for rest := doc; len(rest) > 0; rest = rest[min(benchPiece, len(rest)):] {
		if _, err := obj.Write(rest[:min(benchPiece, len(rest))]); err != nil {
			return 0, err
		}
	}
	if err := obj.Close(); err != nil {
		return 0, err
	}
	return oid, tx.Commit(ctx)
}

type loReader struct {
	io.Reader
	close func() error
}

func (r *loReader) Close() error { return r.close() }
