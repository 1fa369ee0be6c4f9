package profile

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/tessera-print/tessera/internal/testenv"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	sysDescr      = "1.3.6.1.2.1.1.1.0"
	sysObjectID   = "1.3.6.1.2.1.1.2.0"
	hrDeviceDescr = "1.3.6.1.2.1.25.3.2.1.3.1"
)

// recordingCase is what each shared recording must yield, read by hand
// from the .snmprec file (the OID of every number is in its comment).
type recordingCase struct {
	name   string
	vendor string
	want   Result
}

var recordingCases = []recordingCase{
	{
		name: "sharp_mx3570n", vendor: "Sharp",
		want: Result{
			Model: "", // 1.3.6.1.4.1.2385.2.1.3.2.1.4.13501.1302.1|4| is empty
			Counters: map[string]uint64{
				"mono":  91164,         // ...2385.1.1.19.2.1.3.5.4.61|65|91164 "Black & White Total Count"
				"color": 29940 + 0 + 0, // ....3.5.4.63|65|29940 "Full Color", .3.5.4.64|65|0 "Two Color", .3.5.4.80|65|0 "Single Color Total Count"
				"total": 121104,        // mono + color; equals prtMarkerLifeCount 1.3.6.1.2.1.43.10.2.1.4.1.1|65|121104
				"print": 82214,         // ....3.1.4.60|65|82214 "Prints"
				"copy":  38804,         // ....3.4.4.60|65|38804 "Copies"
				"scan":  13534 + 6,     // ....3.7.4.50|65|13534 "Scan to E-mail/FTP", .3.8.4.50|65|6 "Scan to HDD"
			},
		},
	},
	{
		name: "ricoh_mpc3002", vendor: "Ricoh",
		want: Result{
			Model:    "Aficio MP C3002",   // 1.3.6.1.4.1.367.3.2.1.1.1.1.0|4|Aficio MP C3002
			Serial:   "W492KB03439",       // 1.3.6.1.4.1.367.3.2.1.2.1.4.0|4|W492KB03439
			Counters: map[string]uint64{}, // the trimmed recording has no ricohEngCounter table
		},
	},
	{
		name: "utax_p4532dn", vendor: "Kyocera",
		want: Result{
			Model:    "P-4532DN",   // 1.3.6.1.4.1.1347.43.5.1.1.1.1|4|P-4532DN
			Serial:   "R9L0309954", // 1.3.6.1.4.1.1347.43.5.1.1.28.1|4|R9L0309954
			Counters: map[string]uint64{},
		},
	},
	{
		name: "xerox_workcentre6605dn", vendor: "Xerox",
		want: Result{
			Counters: map[string]uint64{
				"total": 18145,        // 1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.1|2|18145 "Total Impressions"
				"mono":  5752,         // ...6.1.20.34|2|5752 "Black Impressions "
				"color": 12393,        // ...6.1.20.33|2|12393 "Color Impressions"
				"print": 5696 + 10530, // ...6.1.20.7|2|5696 "Black Printed", ...6.1.20.29|2|10530 "Color Printed Impressions"
				"copy":  44 + 1863,    // ...6.103.20.3|2|44 "Black Copied", ...6.103.20.25|2|1863 "Color Copied Impressions"
				"scan":  1209 + 29,    // ...6.102.20.11|2|1209 "Network Images Sent", ...6.102.20.12|2|29 "E-mail Images Sent"
				"fax":   12,           // ...6.1.20.71|2|12 "Faxed Impressions"
			},
		},
	},
	{
		// mib-2 only: the profile must find nothing, and invent nothing.
		name: "hp_envy6000", vendor: "HP",
		want: Result{Counters: map[string]uint64{}},
	},
	{
		// sysObjectID 1.3.6.1.4.1.11.2.3.9.1 is HP's; hrDeviceDescr says Brother.
		name: "brother_mfc7820n", vendor: "Brother",
		want: Result{Counters: map[string]uint64{}},
	},
}

func builtin(t testing.TB) []*Profile {
	t.Helper()
	ps, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	return ps
}

func TestRecordings(t *testing.T) {
	ps := builtin(t)
	for _, c := range recordingCases {
		t.Run(c.name, func(t *testing.T) {
			rec := loadRecording(t, c.name)
			p := Match(ps, rec.str(sysObjectID), rec.str(sysDescr), rec.str(hrDeviceDescr))
			if p == nil || p.Vendor != c.vendor {
				t.Fatalf("Match = %v, want %s", p, c.vendor)
			}
			got, err := p.Read(context.Background(), rec)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Read =\n %+v\nwant\n %+v", got, c.want)
			}
		})
	}
}

func TestEveryRecordingMatches(t *testing.T) {
	ps := builtin(t)
	sharedRecordings := testenv.SNMPRecordings(t)
	files, err := filepath.Glob(filepath.Join(sharedRecordings, "*.snmprec"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in %s: %v", sharedRecordings, err)
	}
	known := map[string]string{}
	for _, c := range recordingCases {
		known[c.name] = c.vendor
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		rec := readSnmprec(t, f)
		p := Match(ps, rec.str(sysObjectID), rec.str(sysDescr), rec.str(hrDeviceDescr))
		want, ok := known[name]
		if !ok {
			t.Errorf("%s: a new recording; add it to recordingCases", name)
			continue
		}
		if p == nil || p.Vendor != want {
			t.Errorf("%s: Match = %v, want %s", name, p, want)
		}
	}
}

func TestMatch(t *testing.T) {
	ps := builtin(t)
	cases := []struct {
		name, oid, sysDescr, hrDescr, want string
	}{
		{"enterprise only", "1.3.6.1.4.1.1602.4.1", "", "", "Canon"},
		{"leading dot", ".1.3.6.1.4.1.641.2", "", "", "Lexmark"},
		{"enterprise arc alone", "1.3.6.1.4.1.18334", "", "", "Konica Minolta"},
		{"brother behind HP's OID", "1.3.6.1.4.1.11.2.3.9.1", "Brother NC-6200h", "", "Brother"},
		{"brother by hrDeviceDescr", "1.3.6.1.4.1.11.2.3.9.1", "", "brother MFC-7820N", "Brother"},
		{"HP stays HP", "1.3.6.1.4.1.11.2.3.9.1", "HP ETHERNET MULTI-ENVIRONMENT", "ENVY 6000", "HP"},
		{"UTAX with a foreign OID", "1.3.6.1.4.1.99999.1", "TA_UTAX Printing System", "", "Kyocera"},
		{"Triumph-Adler", "", "TA Triumph-Adler P-4035", "", "Kyocera"},
		{"unknown enterprise", "1.3.6.1.4.1.99999.1", "Some Printer", "", ""},
		{"not an enterprise OID", "1.3.6.1.2.1.1", "", "", ""},
		{"garbage OID", "1.3.6.1.4.1.x", "", "", ""},
		{"empty", "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Match(ps, c.oid, c.sysDescr, c.hrDescr)
			got := ""
			if p != nil {
				got = p.Vendor
			}
			if got != c.want {
				t.Errorf("Match(%q, %q, %q) = %q, want %q", c.oid, c.sysDescr, c.hrDescr, got, c.want)
			}
		})
	}
	if Match(nil, "1.3.6.1.4.1.11", "", "") != nil {
		t.Error("Match over no profiles is not nil")
	}
}

// TestVendors checks the vendors the issue asks for are all there, each
// under its enterprise number.
func TestVendors(t *testing.T) {
	ps := builtin(t)
	want := map[string]int{
		"Kyocera": 1347, "Ricoh": 367, "Lexmark": 641, "HP": 11, "Canon": 1602,
		"Xerox": 253, "Konica Minolta": 18334, "Brother": 2435, "Sharp": 2385, "Epson": 1248,
	}
	for vendor, ent := range want {
		p := Match(ps, "1.3.6.1.4.1."+strconv.Itoa(ent)+".1", "", "")
		if p == nil || p.Vendor != vendor {
			t.Errorf("enterprise %d: Match = %v, want %s", ent, p, vendor)
		}
	}
}

// TestDataFiles checks every shipped file against the rules Load enforces
// and, independently of Load, that every OID-bearing entry names a source.
func TestDataFiles(t *testing.T) {
	sub, err := fs.Sub(builtinFS, "profiles")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(sub, "*.json")
	if len(names) < 10 {
		t.Fatalf("%d profile files, want at least 10", len(names))
	}
	for _, name := range names {
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parse(name, b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		walkJSON(t, name, raw)
	}
}

// walkJSON fails on any object with an OID-like field and no source.
func walkJSON(t *testing.T, where string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, field := range []string{"oid", "values", "key", "index", "enterprises"} {
			if _, ok := x[field]; ok {
				src, _ := x["source"].(string)
				if strings.TrimSpace(src) == "" {
					t.Errorf("%s: entry with %q has no source: %v", where, field, x)
				}
			}
		}
		if _, ok := x["keys"]; ok {
			if src, _ := x["keys_source"].(string); strings.TrimSpace(src) == "" {
				t.Errorf("%s: keys column without keys_source: %v", where, x)
			}
		}
		for k, c := range x {
			walkJSON(t, where+"."+k, c)
		}
	case []any:
		for _, c := range x {
			walkJSON(t, where, c)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	const good = `{"vendor":"V","match":{"enterprises":[9],"source":"s"},
		"counters":[{"counter":"total","oid":"1.3.6.1.4.1.9.1.0","source":"s"}]}`
	if _, err := Load(fstest.MapFS{"v.json": {Data: []byte(good)}}); err != nil {
		t.Fatalf("the good file: %v", err)
	}
	cases := map[string]string{
		"no vendor":        `{"match":{"enterprises":[9],"source":"s"}}`,
		"no match source":  `{"vendor":"V","match":{"enterprises":[9]}}`,
		"no match rule":    `{"vendor":"V","match":{"source":"s"}}`,
		"bad regexp":       `{"vendor":"V","match":{"descr":["("],"source":"s"}}`,
		"negative ent":     `{"vendor":"V","match":{"enterprises":[-1],"source":"s"}}`,
		"unknown field":    `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"countres":[]}`,
		"leading dot":      `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"counters":[{"counter":"total","oid":".1.3.6","source":"s"}]}`,
		"letters in OID":   `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"model":[{"oid":"1.3.a","source":"s"}]}`,
		"no source":        `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"serial":[{"oid":"1.3.6","source":" "}]}`,
		"unknown counter":  `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"counters":[{"counter":"pages","oid":"1.3.6","source":"s"}]}`,
		"row without key":  `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"tables":[{"values":"1.3.6","source":"s","keys":"1.3.7","keys_source":"s","rows":[{"index":"1","counter":"total","source":"s"}]}]}`,
		"index with keys":  `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"tables":[{"values":"1.3.6","source":"s","rows":[{"key":"a","counter":"total","source":"s"}]}]}`,
		"bad index":        `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"tables":[{"values":"1.3.6","source":"s","rows":[{"index":"1.x","counter":"total","source":"s"}]}]}`,
		"duplicate key":    `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"tables":[{"values":"1.3.6","source":"s","keys":"1.3.7","keys_source":"s","rows":[{"key":"a","counter":"total","source":"s"},{"key":"A","counter":"mono","source":"s"}]}]}`,
		"keys no source":   `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"tables":[{"values":"1.3.6","source":"s","keys":"1.3.7","rows":[{"key":"a","counter":"total","source":"s"}]}]}`,
		"empty table":      `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"tables":[{"values":"1.3.6","source":"s","rows":[]}]}`,
		"derive itself":    `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"derive":[{"counter":"total","sum":["total","mono"],"source":"s"}]}`,
		"derive one part":  `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"derive":[{"counter":"total","sum":["mono"],"source":"s"}]}`,
		"derive no source": `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"derive":[{"counter":"total","sum":["mono","color"]}]}`,
		"trailing data":    good + `{}`,
		"not json":         `vendor: V`,
		"one arc":          `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"model":[{"oid":"1","source":"s"}]}`,
		"arc overflow":     `{"vendor":"V","match":{"enterprises":[9],"source":"s"},"model":[{"oid":"1.99999999999","source":"s"}]}`,
	}
	for name, data := range cases {
		if _, err := Load(fstest.MapFS{"v.json": {Data: []byte(data)}}); err == nil {
			t.Errorf("%s: Load accepted %s", name, data)
		}
	}
	big := fstest.MapFS{"v.json": {Data: []byte(strings.Repeat(" ", maxFileSize+1))}}
	if _, err := Load(big); err == nil {
		t.Error("Load accepted a file over maxFileSize")
	}
	ps, err := Load(fstest.MapFS{"a.txt": {Data: []byte("ignored")}})
	if err != nil || len(ps) != 0 {
		t.Errorf("Load of a folder with no .json = %v, %v; want none, nil", ps, err)
	}
}

// countingGetter records the requests Read makes.
type countingGetter struct {
	recording
	gets  [][]string
	walks []string
	err   error
}

func (c *countingGetter) Get(ctx context.Context, oids []string) (map[string]any, error) {
	c.gets = append(c.gets, oids)
	if c.err != nil {
		return nil, c.err
	}
	return c.recording.Get(ctx, oids)
}

func (c *countingGetter) Walk(ctx context.Context, root string) (map[string]any, error) {
	c.walks = append(c.walks, root)
	if c.err != nil {
		return nil, c.err
	}
	return c.recording.Walk(ctx, root)
}

func TestReadRoundTrips(t *testing.T) {
	ps := builtin(t)
	byVendor := map[string]*Profile{}
	for _, p := range ps {
		byVendor[p.Vendor] = p
	}
	cases := []struct {
		vendor string
		gets   int
		walks  []string
	}{
		{"Sharp", 1, []string{"1.3.6.1.4.1.2385.1.1.19.2.1.3", "1.3.6.1.4.1.2385.1.1.19.2.1.4"}},
		{"Xerox", 1, []string{"1.3.6.1.4.1.253.8.53.13.2.1.6"}},
		// two tables share ricohEngCounterValue: it is walked once
		{"Ricoh", 1, []string{"1.3.6.1.4.1.367.3.2.1.2.19.5.1.2", "1.3.6.1.4.1.367.3.2.1.2.19.5.1.5", "1.3.6.1.4.1.367.3.2.1.2.19.5.1.9"}},
		{"HP", 1, nil},
		// Kyocera's two tables share kmMFPColorModeCounterItem: one walk
		{"Kyocera", 1, []string{"1.3.6.1.4.1.1347.42.3.1.2.1.1"}},
		{"Epson", 1, nil},
		{"Brother", 1, nil},
	}
	for _, c := range cases {
		g := &countingGetter{recording: recording{}}
		if _, err := byVendor[c.vendor].Read(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if len(g.gets) != c.gets || !reflect.DeepEqual(g.walks, c.walks) {
			t.Errorf("%s: %d GETs, walks %v; want %d, %v", c.vendor, len(g.gets), g.walks, c.gets, c.walks)
		}
	}
}

func TestReadError(t *testing.T) {
	p := builtin(t)[0]
	boom := errors.New("timeout")
	g := &countingGetter{recording: recording{}, err: boom}
	res, err := p.Read(context.Background(), g)
	if !errors.Is(err, boom) {
		t.Fatalf("Read error = %v, want it to wrap %v", err, boom)
	}
	if res.Counters == nil || len(res.Counters) != 0 || res.Model != "" {
		t.Errorf("Read on error = %+v, want an empty result", res)
	}
}

// TestReadValues covers what the recordings do not: wrong types, negative
// integers, padding, overflow and derivation rules.
func TestReadValues(t *testing.T) {
	const prof = `{"vendor":"T","match":{"enterprises":[9],"source":"s"},
		"model":[{"oid":"9.1","source":"s"},{"oid":"9.2","source":"s"}],
		"serial":[{"oid":"9.3","source":"s"}],
		"counters":[
			{"counter":"total","oid":"9.10","source":"s"},
			{"counter":"print","oid":"9.11","source":"s"},
			{"counter":"print","oid":"9.12","source":"s"},
			{"counter":"fax","oid":"9.13","source":"s"}],
		"tables":[
			{"values":"9.20","source":"s","keys":"9.21","keys_source":"s","rows":[
				{"key":"Mono","counter":"mono","source":"s"},
				{"key":"7","counter":"color","source":"s"}]},
			{"values":"9.30","source":"s","rows":[{"index":"*.5","counter":"copy","source":"s"}]}],
		"derive":[{"counter":"total","sum":["mono","color"],"source":"s"},
			{"counter":"scan","sum":["mono","fax"],"source":"s"}]}`
	ps, err := Load(fstest.MapFS{"t.json": {Data: []byte(prof)}})
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	cases := []struct {
		name string
		rec  recording
		want Result
	}{
		{
			name: "first non-empty model, trimmed; sums; key by name and by code",
			rec: recording{
				"9.1": " \x00 ", "9.2": "  Model X\x00", "9.3": []byte("SER1 "),
				"9.11": uint64(3), "9.12": int64(4),
				"9.20.1": uint64(10), "9.21.1": " mono ",
				"9.20.2": uint64(20), "9.21.2": int64(7),
				"9.20.3": uint64(99), "9.21.3": "other",
				"9.30.1.5": uint64(1), "9.30.2.5": uint64(2), "9.30.2.6": uint64(50), "9.30.5": uint64(70),
			},
			want: Result{Model: "Model X", Serial: "SER1", Counters: map[string]uint64{
				"print": 7, "mono": 10, "color": 20, "copy": 3, "total": 30,
			}},
		},
		{
			name: "wrong types and negatives are skipped; total present is not derived",
			rec: recording{
				"9.1": uint64(5), "9.3": int64(1),
				"9.10": uint64(100), "9.11": "12", "9.12": int64(-2), "9.13": 3.5,
				"9.20.1": "10", "9.21.1": "Mono",
				"9.20.2": uint64(20), "9.21.2": int64(7),
				"9.20.4": uint64(8), // no key: skipped
				"9.21.5": "Mono",    // key without value
			},
			want: Result{Counters: map[string]uint64{"total": 100, "color": 20}},
		},
		{
			name: "derivation needs every part",
			rec:  recording{"9.20.1": uint64(10), "9.21.1": "Mono"},
			want: Result{Counters: map[string]uint64{"mono": 10}},
		},
		{
			name: "an overflowing sum is not reported",
			rec:  recording{"9.11": uint64(1 << 63), "9.12": uint64(1 << 63), "9.13": uint64(1)},
			want: Result{Counters: map[string]uint64{"fax": 1}},
		},
		{
			name: "invalid UTF-8 is dropped from strings",
			rec:  recording{"9.1": "A\xffB", "9.3": "\xff"},
			want: Result{Model: "AB", Counters: map[string]uint64{}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Read(context.Background(), c.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Read =\n %+v\nwant\n %+v", got, c.want)
			}
		})
	}
	// Read must not keep state between reads.
	a, _ := p.Read(context.Background(), cases[0].rec)
	b, _ := p.Read(context.Background(), cases[0].rec)
	if !maps.Equal(a.Counters, b.Counters) {
		t.Errorf("two reads differ: %v, %v", a.Counters, b.Counters)
	}
}

// TestVendorCounters reads the counters the Kyocera, Epson and Brother
// profiles give from a Getter that answers with the values written here,
// and checks that a printer answering none of those OIDs gets none.
func TestVendorCounters(t *testing.T) {
	const (
		kmColorMode = "1.3.6.1.4.1.1347.42.3.1.2.1.1." // kmMFPColorModeCounterItem.function.mode
		kmScan      = "1.3.6.1.4.1.1347.42.3.1.3.1.1." // kmMFPScanCounterItem.function
		kmOtherScan = "1.3.6.1.4.1.1347.42.3.1.4.1.1.1"
		epsonTotals = "1.3.6.1.4.1.1248.1.2.2.27.1.1."
		epsonByFunc = "1.3.6.1.4.1.1248.1.2.2.27.6.1."
		brCounter   = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.10.0"
	)
	// Standard objects every printer answers; no profile may read them
	// as a vendor counter.
	standard := recording{
		"1.3.6.1.2.1.43.10.2.1.4.1.1": uint64(432951), // prtMarkerLifeCount
		"1.3.6.1.2.1.25.3.2.1.3.1":    "a printer",
	}
	with := func(extra recording) recording {
		r := maps.Clone(standard)
		maps.Copy(r, extra)
		return r
	}
	ps := builtin(t)
	cases := []struct {
		name   string
		ent    int
		vendor string
		rec    recording
		want   map[string]uint64
	}{
		{
			// The TASKalfa 6052ci of mstrhakr/printmaster
			// docs/vendor/KYOCERA_OID_MAPPING.md; the sums are its web
			// page's: B&W 241,538, colour 182,867, printer 304,339,
			// copy 116,254, fax 3,812, other scans 43,441.
			name: "Kyocera TASKalfa, full colour in mode 3", ent: 1347, vendor: "Kyocera",
			rec: with(recording{
				kmColorMode + "1.1": int64(163915), kmColorMode + "1.3": int64(140424),
				kmColorMode + "2.1": int64(73811), kmColorMode + "2.3": int64(42443),
				kmColorMode + "4.1": int64(3812),
				kmOtherScan:         int64(43441),
				// Pages read for copying and faxing are not scan jobs, and
				// a scan-function row is no printed page.
				kmScan + "2": int64(42138), kmScan + "4": int64(3057),
				kmColorMode + "3.1":             int64(999),
				"1.3.6.1.4.1.1347.43.5.1.1.1.1": "TASKalfa 6052ci",
			}),
			want: map[string]uint64{
				"mono": 163915 + 73811 + 3812, "color": 140424 + 42443,
				"print": 163915 + 140424, "copy": 73811 + 42443, "fax": 3812, "scan": 43441,
			},
		},
		{
			name: "Kyocera ECOSYS, colour in mode 2", ent: 1347, vendor: "Kyocera",
			rec: with(recording{
				kmColorMode + "1.1": int64(1000), kmColorMode + "1.2": int64(200),
				kmColorMode + "2.1": int64(300), kmColorMode + "2.2": int64(40),
			}),
			want: map[string]uint64{"mono": 1300, "color": 240, "print": 1200, "copy": 340},
		},
		{
			name: "Kyocera with single and full colour", ent: 1347, vendor: "Kyocera",
			rec: with(recording{
				kmColorMode + "1.1": uint64(10), kmColorMode + "1.2": uint64(2), kmColorMode + "1.3": uint64(5),
				kmColorMode + "2.2": uint64(1), kmColorMode + "2.3": uint64(4),
			}),
			want: map[string]uint64{"mono": 10, "color": 2 + 5 + 1 + 4, "print": 17, "copy": 5},
		},
		{
			name: "Kyocera that answers no counter OID", ent: 1347, vendor: "Kyocera",
			rec:  with(recording{"1.3.6.1.4.1.1347.43.5.1.1.28.1": "R9L0309954"}),
			want: map[string]uint64{},
		},
		{
			// The AM-C550 of mstrhakr/printmaster docs/EPSON_OID_MAPPING.md;
			// its web page's total is 81,563.
			name: "Epson AM-C550", ent: 1248, vendor: "Epson",
			rec: with(recording{
				epsonTotals + "3.1.1": int64(39797), epsonTotals + "4.1.1": int64(41766),
				epsonByFunc + "4.1.1.1": int64(49053), epsonByFunc + "4.1.1.2": int64(32474),
				// Colour by function, and .30 whose meaning sources
				// dispute, are not read.
				epsonByFunc + "5.1.1.1": int64(39434), epsonTotals + "30.1.1": int64(81563),
			}),
			want: map[string]uint64{
				"mono": 39797, "color": 41766, "total": 81563, "print": 49053, "copy": 32474,
			},
		},
		{
			name: "Epson without a colour count: no derived total", ent: 1248, vendor: "Epson",
			rec:  with(recording{epsonTotals + "3.1.1": uint64(1234)}),
			want: map[string]uint64{"mono": 1234},
		},
		{
			name: "Epson that answers no counter OID", ent: 1248, vendor: "Epson",
			rec:  with(recording{"1.3.6.1.4.1.1248.1.2.2.1.1.1.2.1": "WF-C5790 Series"}),
			want: map[string]uint64{},
		},
		{
			// brInfoCounter as bieniu/brother tests/fixtures/dcp-l3550cdw.json
			// records it: packed records, not an integer.
			name: "Brother brInfoCounter is not read", ent: 2435, vendor: "Brother",
			rec: with(recording{
				brCounter: "\x00\x01\x04\x00\x00\x06\x4b\x02\x01\x04\x00\x00\x03\x86\x01\x01\x04\x00\x00\x02\xc5",
			}),
			want: map[string]uint64{},
		},
		{
			name: "Brother that answers no counter OID", ent: 2435, vendor: "Brother",
			rec:  with(recording{}),
			want: map[string]uint64{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Match(ps, "1.3.6.1.4.1."+strconv.Itoa(c.ent)+".1", "", "")
			if p == nil || p.Vendor != c.vendor {
				t.Fatalf("Match = %v, want %s", p, c.vendor)
			}
			got, err := p.Read(context.Background(), c.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Counters, c.want) {
				t.Errorf("Counters = %v, want %v", got.Counters, c.want)
			}
		})
	}
}
