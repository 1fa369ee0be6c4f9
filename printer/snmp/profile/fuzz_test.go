package profile

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary data files to Load: an error is fine, a panic
// is not, and whatever loads must be usable.
func FuzzLoad(f *testing.F) {
	sub, err := fs.Sub(builtinFS, "profiles")
	if err != nil {
		f.Fatal(err)
	}
	names, _ := fs.Glob(sub, "*.json")
	for _, n := range names {
		b, _ := fs.ReadFile(sub, n)
		f.Add(b)
	}
	f.Add([]byte(`{"vendor":"V","match":{"descr":["(?i)a*"],"source":"s"},"tables":[{"values":"1.3","source":"s","rows":[{"index":"*.*","counter":"scan","source":"s"}]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Load(fstest.MapFS{"f.json": {Data: data}})
		if err != nil {
			return
		}
		for _, p := range ps {
			Match(ps, "1.3.6.1.4.1.9.1", "descr", "descr")
			g := fuzzGetter{data: data}
			if _, err := p.Read(context.Background(), &g); err != nil {
				t.Fatalf("Read: %v", err)
			}
		}
	})
}

// FuzzRead runs every shipped profile against a Getter that answers with
// values of arbitrary types, made from the fuzz input.
func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("\x05\x0a\x02\xff\xff\xff\xff\xff\xff\xff\xff\x03Mono\x04"))
	ps, err := Builtin()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range ps {
			g := fuzzGetter{data: data}
			res, err := p.Read(context.Background(), &g)
			if err != nil {
				t.Fatalf("%s: Read: %v", p.Vendor, err)
			}
			for k := range res.Counters {
				if !counterNames[k] {
					t.Fatalf("%s: counter %q", p.Vendor, k)
				}
			}
		}
	})
}

// fuzzGetter answers from a byte stream: for each OID asked, whether it
// answers and with what type and value; for each walk, a few rows under
// the root (or outside it) with arbitrary indexes.
type fuzzGetter struct {
	data []byte
	pos  int
}

func (g *fuzzGetter) next() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[g.pos%len(g.data)]
	g.pos++
	return b
}

func (g *fuzzGetter) value() any {
	b := g.next()
	switch b % 11 {
	case 0:
		return nil
	case 1:
		var u uint64
		for range 8 {
			u = u<<8 | uint64(g.next())
		}
		return u
	case 2:
		return -int64(g.next())
	case 3:
		return int64(g.next()) << 40
	case 4:
		n := int(g.next() % 16)
		var sb strings.Builder
		for range n {
			sb.WriteByte(g.next())
		}
		return sb.String()
	case 5:
		return []byte{g.next(), g.next()}
	case 6:
		return float64(g.next())
	case 7:
		return struct{}{}
	case 8:
		return "Mono"
	case 9:
		return strconv.Itoa(int(g.next()))
	default:
		return uint64(g.next())
	}
}

func (g *fuzzGetter) Get(_ context.Context, oids []string) (map[string]any, error) {
	out := map[string]any{}
	for _, o := range oids {
		if g.next()%4 != 0 {
			out[o] = g.value()
		}
	}
	return out, nil
}

var fuzzIndexes = []string{"1", "1.20.1", "103.20.3", "5.4.61", "", "1.2.3.4.5.6.7", "x", "1..2"}

func (g *fuzzGetter) Walk(_ context.Context, root string) (map[string]any, error) {
	out := map[string]any{}
	n := int(g.next() % 12)
	for range n {
		idx := fuzzIndexes[int(g.next())%len(fuzzIndexes)]
		var oid string
		switch g.next() % 5 {
		case 0:
			oid = root // the root itself, no index
		case 1:
			oid = root + "1." + idx // a sibling column that shares the prefix
		default:
			oid = root + "." + idx
		}
		out[oid] = g.value()
	}
	return out, nil
}
