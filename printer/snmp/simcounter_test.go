package snmp

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// oidLifeCount is prtMarkerLifeCount.1.1, the total page counter.
const oidLifeCount = "1.3.6.1.2.1.43.10.2.1.4.1.1"

// The real snmpsimd serving a real printer's recording whose page counter
// an SNMP SET moves between two reads: the client reads the new total,
// and Events and Delta charge the pages, through a Counter32 wrap too.
func TestSimCounterMovesBetweenReads(t *testing.T) {
	const community = "hp_envy6000_counter"
	dir, recorded32 := testenv.WritableRecording(t, "hp_envy6000", oidLifeCount, community)
	recorded := uint64(recorded32)
	addr := testenv.StartSNMPSim(t, dir)
	c := newClient(t, simSettings(addr, community))
	read := func() *Reading {
		t.Helper()
		r, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		return r
	}

	// Before any SET the writecache row serves the recorded value: the
	// rewritten recording is what is being read.
	if got, ok := read().Counters[CounterTotal]; !ok || got != recorded {
		t.Fatalf("first read: total = %d (present %v), want the recorded %d", got, ok, recorded)
	}

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		from, to  uint32
		delta     uint64
		wantDelta bool
	}{
		{"pages printed", uint32(recorded), uint32(recorded) + 3, 3, true},
		// MaxUint32-5 → 10 is 5 pages to the top, one to 0, 10 more.
		{"Counter32 wrap", math.MaxUint32 - 5, 10, 16, true},
		// A wrap of half the range or more is taken as a reset.
		{"wrap too far", math.MaxUint32 - 5, 1 << 31, 0, false},
		{"reset", 500000, 12, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetCounter(t, addr, community, oidLifeCount, tc.from)
			prev := read()
			testenv.SetCounter(t, addr, community, oidLifeCount, tc.to)
			cur := read()

			pt, ct := prev.Counters[CounterTotal], cur.Counters[CounterTotal]
			if pt != uint64(tc.from) || ct != uint64(tc.to) {
				t.Fatalf("totals = %d then %d, want %d then %d", pt, ct, tc.from, tc.to)
			}
			d, ok := Delta(pt, ct, counterBits(pt, ct))
			if ok != tc.wantDelta || d != tc.delta {
				t.Errorf("Delta(%d, %d) = %d, %v; want %d, %v", pt, ct, d, ok, tc.delta, tc.wantDelta)
			}

			evs := Events(prev, cur, now)
			if len(evs) != 1 || evs[0].Kind != EventTotalCounter {
				t.Fatalf("events = %v, want one total-counter", evs)
			}
			data := evs[0].Data
			if data["total"] != ct || data["previous"] != pt {
				t.Errorf("event total/previous = %v/%v, want %d/%d", data["total"], data["previous"], ct, pt)
			}
			got, has := data["delta"]
			if tc.wantDelta && (!has || got != tc.delta || data["reset"] != nil) {
				t.Errorf("event data = %v, want delta %d", data, tc.delta)
			}
			if !tc.wantDelta && (has || data["reset"] != true) {
				t.Errorf("event data = %v, want a reset without delta", data)
			}
			if !evs[0].At.Equal(now) || evs[0].Status != StateReady {
				t.Errorf("event = %+v", evs[0])
			}
		})
	}
}
