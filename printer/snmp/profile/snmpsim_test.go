package profile

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tessera-print/tessera/internal/testenv"
)

// simGetter is a Getter over gosnmp, written here so that the profile
// tests do not depend on the SNMP client they serve.
type simGetter struct {
	g *gosnmp.GoSNMP
}

func newSimGetter(t *testing.T, addr, community string) *simGetter {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{
		Target: host, Port: uint16(p), Community: community,
		Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1,
		MaxOids: gosnmp.MaxOids, MaxRepetitions: 10,
	}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return &simGetter{g: g}
}

func (s *simGetter) Get(ctx context.Context, oids []string) (map[string]any, error) {
	s.g.Context = ctx
	out := map[string]any{}
	for start := 0; start < len(oids); start += s.g.MaxOids {
		end := min(start+s.g.MaxOids, len(oids))
		pkt, err := s.g.Get(oids[start:end])
		if err != nil {
			return nil, err
		}
		for _, v := range pkt.Variables {
			put(out, v)
		}
	}
	return out, nil
}

func (s *simGetter) Walk(ctx context.Context, root string) (map[string]any, error) {
	s.g.Context = ctx
	pdus, err := s.g.BulkWalkAll(root)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, v := range pdus {
		put(out, v)
	}
	return out, nil
}

// put converts a varbind to the Getter contract's types.
func put(out map[string]any, v gosnmp.SnmpPDU) {
	oid := strings.TrimPrefix(v.Name, ".")
	switch v.Type {
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		out[oid] = gosnmp.ToBigInt(v.Value).Uint64()
	case gosnmp.Integer:
		out[oid] = gosnmp.ToBigInt(v.Value).Int64()
	case gosnmp.OctetString:
		b, _ := v.Value.([]byte)
		out[oid] = string(b)
	case gosnmp.ObjectIdentifier, gosnmp.IPAddress:
		out[oid] = strings.TrimPrefix(fmt.Sprint(v.Value), ".")
	}
}

// TestSNMPSim reads the shared recordings through the real snmpsimd.
func TestSNMPSim(t *testing.T) {
	addr := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	ps := builtin(t)
	for _, c := range recordingCases {
		t.Run(c.name, func(t *testing.T) {
			g := newSimGetter(t, addr, c.name)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sys, err := g.Get(ctx, []string{sysObjectID, sysDescr, hrDeviceDescr})
			if err != nil {
				t.Fatalf("GET system objects: %v", err)
			}
			str := func(o string) string { s, _ := sys[o].(string); return s }
			p := Match(ps, str(sysObjectID), str(sysDescr), str(hrDeviceDescr))
			if p == nil || p.Vendor != c.vendor {
				t.Fatalf("Match = %v, want %s", p, c.vendor)
			}
			got, err := p.Read(ctx, g)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Read =\n %+v\nwant\n %+v", got, c.want)
			}
		})
	}
}
