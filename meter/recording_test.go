package meter

import (
	"bufio"
	"context"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/printer/snmp/profile"
)

// recording is a shared printer recording (.snmprec) in memory, a
// profile.Getter over it.
type recording map[string]any

// oidLifeCount is prtMarkerLifeCount.1.1, the standard total counter.
const oidLifeCount = "1.3.6.1.2.1.43.10.2.1.4.1.1"

// loadRecording parses ../shared/testdata/snmp/NAME.snmprec (the types
// the shared recordings use).
func loadRecording(t testing.TB, name string) recording {
	t.Helper()
	path := filepath.Join(testenv.SNMPRecordings(t), name+".snmprec")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := recording{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		parts := strings.SplitN(strings.TrimSpace(sc.Text()), "|", 3)
		if len(parts) != 3 {
			continue
		}
		switch parts[1] {
		case "2":
			i, err := strconv.ParseInt(parts[2], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			rec[parts[0]] = i
		case "4x":
			b, err := hex.DecodeString(parts[2])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			rec[parts[0]] = string(b)
		case "65", "66", "67", "70":
			u, err := strconv.ParseUint(parts[2], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			rec[parts[0]] = u
		default:
			rec[parts[0]] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rec
}

func (r recording) Get(ctx context.Context, oids []string) (map[string]any, error) {
	out := map[string]any{}
	for _, o := range oids {
		if v, ok := r[o]; ok {
			out[o] = v
		}
	}
	return out, ctx.Err()
}

func (r recording) Walk(ctx context.Context, root string) (map[string]any, error) {
	out := map[string]any{}
	for o, v := range r {
		if strings.HasPrefix(o, root+".") {
			out[o] = v
		}
	}
	return out, ctx.Err()
}

// counters are the counters the agent reads from the recorded printer:
// the matching built-in profile's, with prtMarkerLifeCount as the total
// when the printer has it (as snmp.Client merges them).
func (r recording) counters(t testing.TB) map[string]uint64 {
	t.Helper()
	ps, err := profile.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	str := func(oid string) string { s, _ := r[oid].(string); return s }
	p := profile.Match(ps, str("1.3.6.1.2.1.1.2.0"), str("1.3.6.1.2.1.1.1.0"), str("1.3.6.1.2.1.25.3.2.1.3.1"))
	out := map[string]uint64{}
	if p != nil {
		res, err := p.Read(context.Background(), r)
		if err != nil {
			t.Fatalf("profile %s: %v", p.Vendor, err)
		}
		for k, v := range res.Counters {
			out[k] = v
		}
	}
	if v, ok := r[oidLifeCount].(uint64); ok {
		out[snmp.CounterTotal] = v
	}
	return out
}

// The fake printers start from what the agent reads in the shared
// recordings: these are the counters the tests move.
func TestRecordingCounters(t *testing.T) {
	for _, tc := range []struct {
		name string
		want map[string]uint64
	}{
		{"sharp_mx3570n", map[string]uint64{"color": 29940, "copy": 38804, "mono": 91164, "print": 82214, "scan": 13540, "total": 121104}},
		{"xerox_workcentre6605dn", map[string]uint64{"color": 12393, "copy": 1907, "fax": 12, "mono": 5752, "print": 16226, "scan": 1238, "total": 18145}},
		{"ricoh_mpc3002", map[string]uint64{"total": 271871}},
	} {
		got := loadRecording(t, tc.name).counters(t)
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: counters %v, want %v", tc.name, got, tc.want)
		}
	}
}
