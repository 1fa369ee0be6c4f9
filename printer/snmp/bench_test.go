package snmp

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// BenchmarkStatusProcess compares, as whole processes against snmpsim
// serving real recordings, `tessera printer status --json` with the
// net-snmp commands that read the same objects at the same
// max-repetitions: one snmpget of every object read singly, and one
// `snmpbulkwalk -Cr10` per table (or per lone column) that tessera walks.
// The commands are derived from a traced in-process read, so they follow
// the code. Walking a whole table in one process is the cheapest way
// net-snmp has to read columns of it; tessera reads only the columns it
// needs, many per request.
//
// Sub-benchmarks: RECORDING/tessera and RECORDING/netsnmp time each side
// alone; RECORDING/ratio alternates them and reports tessera's time over
// net-snmp's ("tessera/netsnmp").
func BenchmarkStatusProcess(b *testing.B) {
	addr := testenv.StartSNMPSim(b, recordingsDir(b))
	bin := testenv.BuildBinary(b, tesseraPkg)
	snmpget := testenv.Require(b, "snmpget")
	snmpbulkwalk := testenv.Require(b, "snmpbulkwalk")
	const reps = DefaultMaxRepetitions

	for _, rec := range []string{"hp_envy6000", "brother_mfc7820n"} {
		gets, walks := tracedRead(b, addr, rec)
		host, port, _ := strings.Cut(addr, ":")
		common := []string{"-v2c", "-c", rec, "-On", "-t", "2", "-r", "1"}
		agent := "udp:" + host + ":" + port
		var netsnmp [][]string
		netsnmp = append(netsnmp, append(append(append([]string{snmpget}, common...), agent), gets...))
		for _, w := range walks {
			netsnmp = append(netsnmp, append(append([]string{snmpbulkwalk}, common...), "-Cr"+strconv.Itoa(reps), agent, w))
		}
		ours := []string{bin, "printer", "status", "--json", "snmp://" + rec + "@" + addr + "?max-repetitions=" + strconv.Itoa(reps)}
		b.Logf("%s: tessera: 1 process; net-snmp: %d processes: snmpget of %d objects, snmpbulkwalk -Cr%d of %s",
			rec, len(netsnmp), len(gets), reps, strings.Join(walks, " "))

		runOurs := func(b *testing.B) {
			if out, err := exec.Command(ours[0], ours[1:]...).CombinedOutput(); err != nil {
				b.Fatalf("tessera: %v: %s", err, out)
			}
		}
		runTheirs := func(b *testing.B) {
			for _, c := range netsnmp {
				if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%s: %v: %s", c[0], err, out)
				}
			}
		}
		b.Run(rec+"/tessera", func(b *testing.B) {
			for b.Loop() {
				runOurs(b)
			}
		})
		b.Run(rec+"/netsnmp", func(b *testing.B) {
			for b.Loop() {
				runTheirs(b)
			}
		})
		b.Run(rec+"/ratio", func(b *testing.B) {
			var o, n time.Duration
			for b.Loop() {
				t0 := time.Now()
				runOurs(b)
				t1 := time.Now()
				runTheirs(b)
				o, n = o+t1.Sub(t0), n+time.Since(t1)
			}
			b.ReportMetric(float64(o)/float64(n), "tessera/netsnmp")
			b.ReportMetric(float64(o.Milliseconds())/float64(b.N), "tessera-ms/op")
			b.ReportMetric(float64(n.Milliseconds())/float64(b.N), "netsnmp-ms/op")
		})
	}
}

// tracedRead reads the recording in-process and returns what it asked
// for: the objects read singly, and the subtrees walked, grouped by table.
func tracedRead(b *testing.B, addr, rec string) (gets, walks []string) {
	b.Helper()
	c := newClient(b, simSettings(addr, rec))
	var asked []string
	c.trace = func(op string, oids []string) {
		if op == "get" {
			for _, o := range oids {
				if !slices.Contains(gets, o) {
					gets = append(gets, o)
				}
			}
			return
		}
		asked = append(asked, oids...)
	}
	if _, err := c.Read(context.Background()); err != nil {
		b.Fatal(err)
	}
	// The first request of a column names its root; later ones name a
	// row under it.
	var roots []string
	for _, o := range asked {
		if slices.Contains(roots, o) {
			continue
		}
		isRow := slices.ContainsFunc(asked, func(r string) bool { return under(o, r) })
		if !isRow {
			roots = append(roots, o)
		}
	}
	// Columns of one table are walked as the table.
	parents := map[string]int{}
	for _, r := range roots {
		parents[parentOID(r)]++
	}
	for _, r := range roots {
		w := r
		if parents[parentOID(r)] > 1 {
			w = parentOID(r)
		}
		if !slices.Contains(walks, w) {
			walks = append(walks, w)
		}
	}
	slices.SortFunc(walks, compareOID)
	return gets, walks
}

func parentOID(o string) string {
	i := strings.LastIndexByte(o, '.')
	if i < 0 {
		return o
	}
	return o[:i]
}
