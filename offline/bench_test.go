package offline

import (
	"context"
	"fmt"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// BenchmarkCommitPrinted measures one durable commit (ns/op): the ledger row,
// two outbox items and the journal update in one fsynced transaction. The
// claims it commits are made before the timer starts. The figure depends on
// the disk's fsync latency far more than on the CPU.
func BenchmarkCommitPrinted(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("hub:%d", i)
		if _, err := s.Claim(ctx, ids[i], "alice", false); err != nil {
			b.Fatal(err)
		}
	}
	rec := protocol.Record{Pages: 3, Copies: 2, Color: true, PrinterSerial: "SN123"}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.CommitPrinted(ctx, ids[i], rec); err != nil {
			b.Fatal(err)
		}
	}
}
