package snmp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// valuesFromText reads snmprec-like lines, OID|TYPE|VALUE, into the values
// a read collects. A value that does not parse as its type is kept as a
// string: an agent that sends the wrong type.
func valuesFromText(s string) values {
	v := values{}
	for line := range strings.SplitSeq(s, "\n") {
		parts := strings.SplitN(strings.TrimSpace(line), "|", 3)
		if len(parts) != 3 {
			continue
		}
		oid, typ, val := strings.TrimPrefix(parts[0], "."), parts[1], parts[2]
		switch typ {
		case "2":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				v[oid] = n
				continue
			}
		case "65", "66", "67", "70":
			if n, err := strconv.ParseUint(val, 10, 64); err == nil {
				v[oid] = n
				continue
			}
		case "4x":
			if b, err := hex.DecodeString(val); err == nil {
				v[oid] = clip(string(b))
				continue
			}
		}
		v[oid] = clip(val)
	}
	return v
}

// FuzzDecode feeds the decoder arbitrary answers: wrong types, huge or
// invalid strings, negative and special levels, odd indexes, tables of
// several devices. Seeds are the real recordings. It must not panic, and
// what it produces must marshal and compare (Events) cleanly.
func FuzzDecode(f *testing.F) {
	if files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "testdata", "snmp", "*.snmprec")); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(string(b), "")
			}
		}
	}
	f.Add("1.3.6.1.2.1.43.11.1.1.9.1.1|2|-3\n1.3.6.1.2.1.43.11.1.1.8.1.1|2|-2\n1.3.6.1.2.1.43.11.1.1.6.1.1|4|PN#X",
		"1.3.6.1.2.1.43.11.1.1.9.1.1|2|9223372036854775807\n1.3.6.1.2.1.43.11.1.1.8.1.1|2|1")
	f.Add("1.3.6.1.2.1.25.3.5.1.2.1|4x|ffffffffffff\n1.3.6.1.2.1.25.3.2.1.5.1|4|down\n1.3.6.1.2.1.25.3.5.1.1.1|65|5",
		"1.3.6.1.2.1.43.18.1.1.7.1.1|2|8\n1.3.6.1.2.1.43.18.1.1.2.1.1|2|3\n1.3.6.1.2.1.43.18.1.1.8.1.1|4x|ff00fe")
	f.Add("1.3.6.1.2.1.43.10.2.1.4.1.1|65|4294967295\n1.3.6.1.2.1.43.8.2.1.3.1.1|2|4\n1.3.6.1.2.1.43.8.2.1.4.1.1|2|-9223372036854775808",
		"1.3.6.1.2.1.43.10.2.1.4.1.1|65|3\n1.3.6.1.2.1.2.2.1.6.1|4|abc\n1.3.6.1.2.1.25.3.2.1.2.7|6|1.3.6.1.2.1.25.3.1.5")
	f.Add("1.3.6.1.2.1.43.11.1.1.6.1.1|4|"+strings.Repeat("W", 5000), "1.3.6.1.2.1.43.11.1.1.3.1.99999999999|2|1")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, a, b string) {
		ra, rb := decode(valuesFromText(a)), decode(valuesFromText(b))
		for _, r := range []*Reading{ra, rb} {
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if r.Status.State == "" || (r.Status.CanPrint == r.Status.Blocking()) {
				t.Fatalf("inconsistent status %+v", r.Status)
			}
			for _, s := range append(r.Supplies, Supply{}) {
				if s.Percent != nil && (*s.Percent < 0 || *s.Percent > 100) {
					t.Fatalf("percent %d", *s.Percent)
				}
				if len(s.Description) > 4*maxStringBytes {
					t.Fatalf("description of %d bytes", len(s.Description))
				}
			}
			if len(r.Supplies) > maxTableRows || len(r.Trays) > maxTableRows || len(r.Alerts) > maxTableRows {
				t.Fatalf("unbounded tables: %d %d %d", len(r.Supplies), len(r.Trays), len(r.Alerts))
			}
		}
		for _, e := range Events(ra, rb, now) {
			if _, err := json.Marshal(e.Data); err != nil {
				t.Fatalf("event data: %v", err)
			}
		}
	})
}

// fuzzAgent answers walk requests from fuzz bytes: each answer's OIDs,
// kinds and values come from the data, in a loop, so they can go
// backwards, repeat, leave the subtree or never end.
type fuzzAgent struct {
	data     []byte
	pos      int
	requests int
	fail     bool
}

func (a *fuzzAgent) next() byte {
	if len(a.data) == 0 {
		return 0
	}
	c := a.data[a.pos%len(a.data)]
	a.pos++
	return c
}

func (a *fuzzAgent) answer(oids []string, reps int) ([]varbind, error) {
	a.requests++
	switch a.next() % 16 {
	case 0:
		if a.fail {
			return nil, ErrNoAnswer
		}
	case 1:
		return nil, &StatusError{Op: "getbulk", Status: gosnmp.TooBig}
	case 2:
		return nil, &StatusError{Op: "getnext", Status: gosnmp.NoSuchName, Index: int(a.next()) % (len(oids) + 2)}
	}
	n := int(a.next()) % (len(oids)*reps + 2)
	out := make([]varbind, 0, n)
	for i := 0; i < n; i++ {
		base := oids[i%len(oids)]
		var oid string
		switch a.next() % 6 {
		case 0:
			oid = base // the same again
		case 1:
			oid = parentOID(base) // backwards
		case 2:
			oid = "1.3.6.1.9" // beyond
		case 3:
			oid = "not.an.oid"
		default:
			oid = base + "." + strconv.Itoa(int(a.next())) // forwards, maybe
		}
		vb := varbind{OID: oid, Kind: kind(a.next() % 5)}
		switch a.next() % 4 {
		case 0:
			vb.Value = int64(a.next()) - 128
		case 1:
			vb.Value = uint64(a.next())
		case 2:
			vb.Value = strings.Repeat("x", int(a.next()))
		}
		out = append(out, vb)
	}
	return out, nil
}

func (a *fuzzAgent) get(_ context.Context, oids []string) ([]varbind, error) {
	return a.answer(oids, 1)
}

func (a *fuzzAgent) getNext(_ context.Context, oids []string) ([]varbind, error) {
	return a.answer(oids, 1)
}

func (a *fuzzAgent) getBulk(_ context.Context, oids []string, reps int) ([]varbind, error) {
	return a.answer(oids, reps)
}

// FuzzWalk drives the walker with answers that do not increase, repeat,
// leave the subtree, are empty or carry errors: every walk must end, with
// a bounded number of requests and values.
func FuzzWalk(f *testing.F) {
	f.Add([]byte{4, 9, 4, 4, 4, 4, 4}, true, uint8(10))
	f.Add([]byte{5, 0, 0, 0, 0}, false, uint8(1))
	f.Add([]byte{2, 1, 3, 200, 4, 5, 6, 7, 8, 9}, true, uint8(50))
	f.Add([]byte{7, 3, 5, 11, 13, 17, 255, 254}, true, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, bulk bool, reps uint8) {
		agent := &fuzzAgent{data: data, fail: len(data)%3 == 0}
		w := newWalker(agent, bulk, int(reps%60)+1)
		into := map[string]any{}
		roots := columnOIDs()[:1+len(data)%len(columnOIDs())]
		_, err := w.walk(context.Background(), roots, into)
		if err != nil && !errors.Is(err, ErrNoAnswer) && !strings.Contains(err.Error(), "agent answered") &&
			!strings.Contains(err.Error(), "values") {
			t.Fatalf("unexpected error: %v", err)
		}
		// Each request either ends a column, moves one forward, or halves
		// the budget; a column moves at most maxRowsPerColumn times.
		if limit := len(roots)*(maxRowsPerColumn+2) + 64; agent.requests > limit {
			t.Fatalf("%d requests for %d columns", agent.requests, len(roots))
		}
		if len(into) > maxValuesPerRead+defaultBudget*60 {
			t.Fatalf("%d values kept", len(into))
		}
		for oid := range into {
			if !validOID(oid) || !slicesContainsRoot(roots, oid) {
				t.Fatalf("kept %q outside the walked subtrees", oid)
			}
		}
		// getAll with the same agent ends too.
		_ = getAll(context.Background(), agent, roots, map[string]any{})
	})
}

func slicesContainsRoot(roots []string, oid string) bool {
	for _, r := range roots {
		if under(oid, r) {
			return true
		}
	}
	return false
}

// FuzzFromPDU converts variable bindings whose Go value does not match
// their ASN.1 type, as a broken agent or decoder could produce.
func FuzzFromPDU(f *testing.F) {
	f.Add(".1.3.6.1.2.1.1.1.0", byte(gosnmp.OctetString), 0, int64(5), "HP", false)
	f.Add("1.3", byte(gosnmp.Counter32), 3, int64(-1), "", true)
	f.Add("", byte(gosnmp.ObjectIdentifier), 4, int64(0), ".1.3.6", false)
	f.Fuzz(func(t *testing.T, name string, typ byte, which int, n int64, s string, asBytes bool) {
		var val any
		switch which % 7 {
		case 0:
			val = int(n)
		case 1:
			val = uint(n)
		case 2:
			val = uint32(n)
		case 3:
			val = uint64(n)
		case 4:
			if asBytes {
				val = []byte(s)
			} else {
				val = s
			}
		case 5:
			val = float64(n)
		}
		vb := fromPDU(gosnmp.SnmpPDU{Name: name, Type: gosnmp.Asn1BER(typ), Value: val})
		switch x := vb.Value.(type) {
		case nil, int64, uint64:
		case string:
			if len(x) > maxStringBytes {
				t.Fatalf("string of %d bytes kept", len(x))
			}
		default:
			t.Fatalf("value of type %T", x)
		}
		if vb.Kind != kindValue && vb.Value != nil {
			t.Fatalf("exception with a value")
		}
	})
}

// FuzzParseURL: the snmp:// URL comes from the config file or the command
// line. Whatever it holds, ParseURL must not panic, never reads a pass
// phrase from the URL itself, and what it accepts validates and renders
// without secrets.
func FuzzParseURL(f *testing.F) {
	f.Add("snmp://public@10.0.0.5?version=2c&timeout=2s&retries=1&bulk=true&max-repetitions=10&deadline=10s")
	f.Add("snmp://alice@[::1]:1161?version=3&level=authPriv&auth=SHA-256&auth-pass-file=a&priv=AES&priv-pass-file=p")
	f.Add("snmp://bob:pw@h?version=3&auth-pass=secret")
	f.Add("snmp://h?version=1&bulk=maybe")
	readFile := func(name string) ([]byte, error) {
		if name == "a" || name == "p" {
			return []byte("pass-from-file\n"), nil
		}
		return nil, os.ErrNotExist
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseURL(raw, readFile)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted settings do not validate: %v", err)
		}
		if s.AuthPass != "" && s.AuthPass != "pass-from-file" || s.PrivPass != "" && s.PrivPass != "pass-from-file" {
			t.Fatalf("a pass phrase came from the URL: %+v", s)
		}
		str := s.String()
		u, err := url.Parse(str)
		if err != nil {
			t.Fatalf("String %q does not parse: %v", str, err)
		}
		if strings.Contains(str, "pass-from-file") || (s.Version != "3" && u.User != nil) {
			t.Fatalf("String shows a secret: %s", str)
		}
	})
}
