package release

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// claimingHub is fakeHub whose fetches carry a claim, as the hub's do.
type claimingHub struct {
	*fakeHub
	claim string
}

func (c claimingHub) Open(ctx context.Context, id, username string) (*Document, error) {
	d, err := c.fakeHub.Open(ctx, id, username)
	if err != nil {
		return nil, err
	}
	d.Claim = c.claim
	return d, nil
}

// The source's claim on an attempt reaches the journal row before the
// document is sent, and so the attempt's final status in the outbox, also
// for a document of unknown length (spooled first).
func TestEngineRecordsSourceClaim(t *testing.T) {
	for _, unsized := range []bool{false, true} {
		h := newHarness(t)
		h.hub.unsized = unsized
		src := claimingHub{fakeHub: h.hub, claim: "claim-xyz"}
		h.engine.sources["hub"] = src
		ctx := context.Background()
		if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
			t.Fatal(err)
		}
		h.engine.Wait()
		c, _, _ := h.store.Get(ctx, "hub:7")
		if c.SourceClaim != "claim-xyz" {
			t.Errorf("unsized %v: journal claim = %q, want claim-xyz", unsized, c.SourceClaim)
		}
		items, _ := h.store.Pending(ctx, 0)
		found := false
		for _, it := range items {
			var st protocol.JobStatusRequest
			if it.Kind == "job-status" && json.Unmarshal(it.Payload, &st) == nil && st.State == protocol.JobPrinted {
				found = st.ClaimID == "claim-xyz"
			}
		}
		if !found {
			t.Errorf("unsized %v: the queued printed status does not carry the claim", unsized)
		}
	}
}
