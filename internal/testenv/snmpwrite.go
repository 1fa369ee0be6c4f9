package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// WritableRecording copies the shared recording name into a new folder
// as DIR/community.snmprec with row oid turned into a snmpsim writecache
// Counter32 (RECIPES.md §3) starting at its recorded value, so an SNMP
// SET moves it between two reads. It returns the folder and the value.
func WritableRecording(t testing.TB, name, oid, community string) (string, uint32) {
	t.Helper()
	src := filepath.Join(SNMPRecordings(t), name+".snmprec")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	var recorded uint64
	found := false
	for i, l := range lines {
		f := strings.SplitN(string(l), "|", 3)
		if len(f) != 3 || f[0] != oid {
			continue
		}
		if f[1] != "65" {
			t.Fatalf("%s: %s has tag %s, want 65 (Counter32)", src, oid, f[1])
		}
		if recorded, err = strconv.ParseUint(f[2], 10, 32); err != nil {
			t.Fatal(err)
		}
		lines[i] = fmt.Appendf(nil, "%s|65:writecache|value=%d", oid, recorded)
		found = true
	}
	if !found {
		t.Fatalf("%s has no %s row", src, oid)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, community+".snmprec"), bytes.Join(lines, []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, uint32(recorded)
}

// SetCounter moves the simulated counter with an SNMP SET.
func SetCounter(t testing.TB, addr, community, oid string, v uint32) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Community: community, Version: gosnmp.Version2c,
		Timeout: 2 * time.Second, Retries: 2}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	res, err := g.Set([]gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Counter32, Value: v}})
	// snmpsim answers a refused SET with no error and a noSuchInstance
	// varbind: the varbind tells.
	if err != nil || res.Error != gosnmp.NoError || len(res.Variables) != 1 || res.Variables[0].Type != gosnmp.Counter32 ||
		gosnmp.ToBigInt(res.Variables[0].Value).Uint64() != uint64(v) {
		t.Fatalf("SET %s = %d: %v %+v", oid, v, err, res)
	}
}
