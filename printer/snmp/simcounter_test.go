package snmp

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tessera-print/tessera/internal/testenv"
)

// oidLifeCount is prtMarkerLifeCount.1.1, the total page counter.
const oidLifeCount = "1.3.6.1.2.1.43.10.2.1.4.1.1"

// writableCounterRecording copies the shared recording src into a new
// folder as DIR/community.snmprec, with prtMarkerLifeCount turned into a
// snmpsim writecache row (RECIPES.md §3) that starts at the recorded
// value, so that an SNMP SET can move the counter between two reads. It
// returns the folder and the recorded value.
func writableCounterRecording(t *testing.T, src, community string) (string, uint64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read recording: %v", err)
	}
	lines := bytes.Split(b, []byte("\n"))
	var recorded uint64
	found := false
	for i, l := range lines {
		// OID|TAG|VALUE; 65 is Counter32.
		f := strings.SplitN(string(l), "|", 3)
		if len(f) != 3 || f[0] != oidLifeCount {
			continue
		}
		if f[1] != "65" {
			t.Fatalf("%s: %s has tag %s, want 65 (Counter32)", src, oidLifeCount, f[1])
		}
		if recorded, err = strconv.ParseUint(f[2], 10, 32); err != nil {
			t.Fatalf("%s: %s = %q: %v", src, oidLifeCount, f[2], err)
		}
		lines[i] = []byte(fmt.Sprintf("%s|65:writecache|value=%d", oidLifeCount, recorded))
		found = true
	}
	if !found {
		t.Fatalf("%s has no %s row", src, oidLifeCount)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, community+".snmprec"), bytes.Join(lines, []byte("\n")), 0o644); err != nil {
		t.Fatalf("write recording: %v", err)
	}
	return dir, recorded
}

// setCounter32 moves the simulated counter with an SNMP SET of a
// Counter32, the only type writecache accepts for this row.
func setCounter32(t *testing.T, addr, community string, v uint32) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("simulator address: %v", err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatalf("simulator address %q: %v", addr, err)
	}
	g := &gosnmp.GoSNMP{
		Target: host, Port: uint16(p), Community: community, Version: gosnmp.Version2c,
		Timeout: 2 * time.Second, Retries: 2,
	}
	if err := g.Connect(); err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	defer g.Conn.Close()
	res, err := g.Set([]gosnmp.SnmpPDU{{Name: oidLifeCount, Type: gosnmp.Counter32, Value: v}})
	if err != nil {
		t.Fatalf("SET %s = Counter32 %d: %v", oidLifeCount, v, err)
	}
	// snmpsim answers a refused SET with errorStatus 0 and a
	// noSuchInstance varbind, so the varbind is what tells.
	if res.Error != gosnmp.NoError || len(res.Variables) != 1 ||
		res.Variables[0].Type != gosnmp.Counter32 || gosnmp.ToBigInt(res.Variables[0].Value).Uint64() != uint64(v) {
		t.Fatalf("SET %s = Counter32 %d: error %v, varbinds %+v", oidLifeCount, v, res.Error, res.Variables)
	}
}

// The real snmpsimd serving a real printer's recording whose page counter
// an SNMP SET moves between two reads: the client reads the new total,
// and Events and Delta charge the pages, through a Counter32 wrap too.
func TestSimCounterMovesBetweenReads(t *testing.T) {
	const community = "hp_envy6000_counter"
	dir, recorded := writableCounterRecording(t, filepath.Join(recordingsDir(t), "hp_envy6000.snmprec"), community)
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
			setCounter32(t, addr, community, tc.from)
			prev := read()
			setCounter32(t, addr, community, tc.to)
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
