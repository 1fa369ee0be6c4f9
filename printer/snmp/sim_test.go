package snmp

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/printer/snmp/profile"
)

// recordingsDir is the folder of real printer recordings shared beside the
// repository (../shared/testdata/snmp), or $TESSERA_SNMP_TESTDATA.
func recordingsDir(t testing.TB) string { return testenv.SNMPRecordings(t) }

func startSim(t *testing.T) string {
	t.Helper()
	return testenv.StartSNMPSim(t, recordingsDir(t))
}

func simSettings(addr, community string) Settings {
	s := DefaultSettings(addr)
	s.Community = community
	return s
}

func newClient(t testing.TB, s Settings) *Client {
	t.Helper()
	c, err := New(s, testLogger(t))
	if err != nil {
		t.Fatalf("New(%s): %v", s, err)
	}
	return c
}

type wantSupply struct {
	descr   string
	typ     string
	level   int64
	max     int64
	percent int // -1: none
	colour  string
	part    string
}

type wantTray struct {
	name       string
	level, max int64
	size       string
}

type wantReading struct {
	vendor, model, serial, mac string
	total                      uint64
	state                      string
	reasons                    []string
	supplies                   []wantSupply
	trays                      []wantTray
	alerts                     int
	console                    []string
}

// recordings holds, for every shared recording, what a person reads in
// the .snmprec file and SOURCES.md (see the comments): never values the
// code under test produced.
func recordings() map[string]wantReading {
	return map[string]wantReading{
		// 43.5.1.1.17.1 TH05H3D1F8; hrDeviceDescr.1; ifPhysAddress.2 (wlan0,
		// ifType 6; .1 is lo, type 24); 43.10.2.1.4.1.1 = 931; running(2),
		// idle(3), errors 00; 4 alerts of severity other(1), code other(1);
		// supplies .6/.5/.9/.8; colorants 43.12.1.1.4.1.{1,2}; prtInput row 1:
		// declared size -2, chosen 110000x85000 ten-thousandths of inches.
		"hp_envy6000": {
			vendor: "HP", model: "ENVY 6000 All-in-One Printer series", serial: "TH05H3D1F8",
			mac: "38:22:e2:b7:24:6c", total: 931, state: StateReady, reasons: []string{},
			supplies: []wantSupply{
				{"tri-color ink cartridge HP unknown", "ink", 0, 100, 0, "tri-color", ""},
				{"black ink cartridge HP unknown", "ink", 11, 100, 11, "black", ""},
			},
			trays:   []wantTray{{"Tray 1", -2, -2, "Letter"}},
			alerts:  4,
			console: []string{"Genuine HP Cartridge Installed"},
		},
		// No prtGeneralSerialNumber and no enterprise subtree, so no serial;
		// running(2) + other(1) is RFC 3805's standby; alert row 1 "Sleep",
		// row 2 all zero; supplies level -3, max -2; colorant 1 = black;
		// tray TRAY1 level -3 max 250, chosen size 110000x85000.
		"brother_mfc7820n": {
			vendor: "Brother", model: "Brother MFC-7820N", serial: "",
			mac: "00:80:77:86:99:67", total: 18171, state: StateSleeping, reasons: []string{ReasonSleeping},
			supplies: []wantSupply{
				{"TN-350/TN-2000/TN-2025/TN-2075", "toner", -3, -2, -1, "black", "TN-350"},
				{"DR-350/DR-2000/DR-2025/DR-2075", "opc", -3, -2, -1, "black", "DR-350"},
			},
			trays:   []wantTray{{"TRAY1", -3, 250, "Letter"}},
			alerts:  1,
			console: []string{"03/27 20:50  Fax", "Sleep"},
		},
		// Serial 3180945058; hrDeviceDescr.1 up to ";"; no ifPhysAddress;
		// idle, errors 0000, one alert code 23 subunitPowerSaver; six
		// supplies with PN# in the description; trays: bypass 0/150, tray 1
		// -3/550 at 297000x210000 micrometers.
		"xerox_workcentre6605dn": {
			vendor: "Xerox", model: "Xerox WorkCentre 6605DN", serial: "3180945058",
			mac: "", total: 18145, state: StateSleeping, reasons: []string{ReasonSleeping},
			supplies: []wantSupply{
				{"Cyan Toner Cartridge, WorkCentre 6605DN, PN#106R02237", "toner", 6900, 11500, 60, "cyan", "106R02237"},
				{"Magenta Toner Cartridge, WorkCentre 6605DN, PN#106R02238", "toner", 6900, 11500, 60, "magenta", "106R02238"},
				{"Yellow Toner Cartridge, WorkCentre 6605DN, PN#106R02239", "toner", 8800, 11000, 80, "yellow", "106R02239"},
				{"Black Toner Cartridge, WorkCentre 6605DN, PN#106R02240", "toner", 11000, 11000, 100, "black", "106R02240"},
				{"Imaging Unit Kit, WorkCentre 6605DN, PN#108R01121", "opc", 36000, 60000, 60, "", "108R01121"},
				{"Waste Toner Box, WorkCentre 6605DN, PN#108R01124", "wasteToner", 30000, 30000, 100, "", "108R01124"},
			},
			trays:   []wantTray{{"Bypass Tray", 0, 150, ""}, {"Tray 1", -3, 550, "A4"}},
			alerts:  1,
			console: []string{"Pronto"},
		},
		// Serial 6509415X00; hrDeviceDescr.1; eth0 243184c8466a; printer
		// device warning(3), no hrPrinterStatus, errors 2000 = lowToner;
		// 14 supplies (trimmed: type, description, max, level only).
		"sharp_mx3570n": {
			vendor: "Sharp", model: "SHARP MX-3570N", serial: "6509415X00",
			mac: "24:31:84:c8:46:6a", total: 121104, state: StateReady, reasons: []string{ReasonLowToner},
			supplies: []wantSupply{
				{"Cyan Toner", "toner", 55, 100, 55, "cyan", ""},
				{"Magenta Toner", "toner", 19, 100, 19, "magenta", ""},
				{"Yellow Toner", "toner", 40, 100, 40, "yellow", ""},
				{"Black Toner", "toner", 34, 100, 34, "black", ""},
				{"Waste Toner", "wasteToner", 100, -2, -1, "", ""},
				{"Cyan Photoconductive Drum", "opc", 81, 100, 81, "cyan", ""},
				{"Magenta Photoconductive Drum", "opc", 81, 100, 81, "magenta", ""},
				{"Yellow Photoconductive Drum", "opc", 81, 100, 81, "yellow", ""},
				{"Black Photoconductive Drum", "opc", 95, 100, 95, "black", ""},
				{"Cyan Developer", "developer", 91, 100, 91, "cyan", ""},
				{"Magenta Developer", "developer", 91, 100, 91, "magenta", ""},
				{"Yellow Developer", "developer", 91, 100, 91, "yellow", ""},
				{"Black Developer", "developer", 74, 100, 74, "black", ""},
				{"Fusing Unit", "fuser", -2, -2, -1, "", ""},
			},
			trays: []wantTray{
				{"Bypass Tray", 0, 100, ""}, {"Tray 1", 181, 550, ""}, {"Tray 2", 181, 550, ""},
				{"Tray 3", 181, 550, ""}, {"Tray 4", 368, 550, ""}, {"Auto Select", -2, -2, ""},
			},
		},
		// Serial W492KB03439; printer device warning(3), no hrPrinterStatus,
		// errors 00: a warning without detail.
		"ricoh_mpc3002": {
			vendor: "Ricoh", model: "RICOH Aficio MP C3002", serial: "W492KB03439",
			mac: "00:26:73:54:e2:6a", total: 271871, state: StateReady, reasons: []string{ReasonWarning},
			supplies: []wantSupply{
				{"Black Toner", "toner", 40, 100, 40, "black", ""},
				{"Waste Toner", "wasteToner", 100, 100, 100, "", ""},
				{"Cyan Toner", "toner", 20, 100, 20, "cyan", ""},
				{"Magenta Toner", "toner", 50, 100, 50, "magenta", ""},
				{"Yellow Toner", "toner", 50, 100, 50, "yellow", ""},
			},
			trays: []wantTray{
				{"Tray 1", 55, 550, ""}, {"Tray 2", 55, 550, ""}, {"Tray 3", 55, 550, ""},
				{"Tray 4", 0, 550, ""}, {"Bypass Tray", 0, 100, ""},
			},
		},
		// No prtGeneralSerialNumber: the serial is Kyocera's
		// 1.3.6.1.4.1.1347.43.5.1.1.28.1 = R9L0309954 (vendor fallback);
		// hrDeviceDescr.1 P-4532DN; running(2), errors 00; PK-3010S
		// 5340/6000, waste box -3/-2; no input table.
		"utax_p4532dn": {
			vendor: "Kyocera", model: "P-4532DN", serial: "R9L0309954",
			mac: "00:17:c8:94:5f:14", total: 427, state: StateReady, reasons: []string{},
			supplies: []wantSupply{
				{"PK-3010S", "toner", 5340, 6000, 89, "", "PK-3010S"},
				{"Waste Toner Box", "wasteToner", -3, -2, -1, "", ""},
			},
			trays: []wantTray{},
		},
	}
}

func TestRecordings(t *testing.T) {
	addr := startSim(t)
	all := recordings()
	files, _ := filepath.Glob(filepath.Join(recordingsDir(t), "*.snmprec"))
	if len(files) != len(all) {
		t.Errorf("%d recordings in the folder, %d in the test: every recording needs its expectations", len(files), len(all))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		want, ok := all[name]
		if !ok {
			t.Errorf("recording %s has no expectations in the test", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			c := newClient(t, simSettings(addr, name))
			r, err := c.Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkReading(t, r, want)
		})
	}
}

func checkReading(t *testing.T, r *Reading, want wantReading) {
	t.Helper()
	if r.Vendor != want.vendor || r.Model != want.model || r.Serial != want.serial || r.MAC != want.mac {
		t.Errorf("identity = vendor %q model %q serial %q mac %q, want %q %q %q %q",
			r.Vendor, r.Model, r.Serial, r.MAC, want.vendor, want.model, want.serial, want.mac)
	}
	if got, ok := r.Counters[CounterTotal]; !ok || got != want.total {
		t.Errorf("total counter = %d (present %v), want %d", got, ok, want.total)
	}
	if r.Status.State != want.state || !slices.Equal(r.Status.Codes(), want.reasons) {
		t.Errorf("status = %s %v, want %s %v", r.Status.State, r.Status.Codes(), want.state, want.reasons)
	}
	if r.Status.CanPrint != (want.state != StateAttention) {
		t.Errorf("can print = %v in state %s", r.Status.CanPrint, r.Status.State)
	}
	if len(r.Supplies) != len(want.supplies) {
		t.Fatalf("%d supplies, want %d: %+v", len(r.Supplies), len(want.supplies), r.Supplies)
	}
	for i, w := range want.supplies {
		s := r.Supplies[i]
		p := -1
		if s.Percent != nil {
			p = *s.Percent
		}
		if s.Description != w.descr || s.Type != w.typ || s.Level != w.level || s.Max != w.max || p != w.percent ||
			s.Colour != w.colour || s.PartNumber != w.part {
			t.Errorf("supply %d = %q %s %d/%d %d%% colour %q part %q, want %q %s %d/%d %d%% colour %q part %q",
				i+1, s.Description, s.Type, s.Level, s.Max, p, s.Colour, s.PartNumber,
				w.descr, w.typ, w.level, w.max, w.percent, w.colour, w.part)
		}
	}
	if len(r.Trays) != len(want.trays) {
		t.Errorf("%d trays, want %d: %+v", len(r.Trays), len(want.trays), r.Trays)
	} else {
		for i, w := range want.trays {
			tr := r.Trays[i]
			if tr.Name != w.name || tr.Level != w.level || tr.Max != w.max || tr.Size != w.size {
				t.Errorf("tray %d = %q %d/%d %q, want %q %d/%d %q", i+1, tr.Name, tr.Level, tr.Max, tr.Size, w.name, w.level, w.max, w.size)
			}
		}
	}
	if len(r.Alerts) != want.alerts {
		t.Errorf("%d alerts, want %d: %+v", len(r.Alerts), want.alerts, r.Alerts)
	}
	if !slices.Equal(r.Console, want.console) {
		t.Errorf("console = %q, want %q", r.Console, want.console)
	}
	if len(r.Problems) > 0 {
		t.Errorf("problems: %v", r.Problems)
	}
}

// The merged reading carries the vendor profile's counters (the split
// itself is the profile's tests' business).
func TestRecordingsCarryProfileCounters(t *testing.T) {
	addr := startSim(t)
	ps, err := profile.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"xerox_workcentre6605dn", "sharp_mx3570n"} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, simSettings(addr, name))
			r, err := c.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			p := profile.Match(ps, r.SysObjectID, r.SysDescr, r.DeviceDescr)
			if p == nil {
				t.Fatalf("no profile for %s", r.SysObjectID)
			}
			ctx := context.Background()
			sess, closeSession, err := dial(ctx, c.Settings(), c.log)
			if err != nil {
				t.Fatal(err)
			}
			defer closeSession()
			res, err := p.Read(ctx, &getter{r: sess, w: newWalker(sess, true, 10)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Counters) < 2 {
				t.Fatalf("profile %s returned %v: expected a split for this recording", p.Vendor, res.Counters)
			}
			for k, v := range res.Counters {
				if k == CounterTotal {
					continue // prtMarkerLifeCount wins
				}
				if got, ok := r.Counters[k]; !ok || got != v {
					t.Errorf("counter %s = %d (present %v), profile says %d", k, got, ok, v)
				}
			}
		})
	}
}

// SNMPv1 (GETNEXT, noSuchName) and v2c without GETBULK read the same as
// v2c with GETBULK, and whatever max-repetitions.
func TestRecordingsAllWays(t *testing.T) {
	addr := startSim(t)
	for _, name := range []string{"hp_envy6000", "brother_mfc7820n", "sharp_mx3570n"} {
		t.Run(name, func(t *testing.T) {
			base := simSettings(addr, name)
			ref := readJSON(t, base)
			v1 := base
			v1.Version = "1"
			nobulk := base
			nobulk.Bulk = false
			reps1 := base
			reps1.MaxRepetitions = 1
			reps50 := base
			reps50.MaxRepetitions = 50
			for label, s := range map[string]Settings{"v1": v1, "no-bulk": nobulk, "reps=1": reps1, "reps=50": reps50} {
				if got := readJSON(t, s); got != ref {
					t.Errorf("%s reads differently:\n%s\nwant\n%s", label, got, ref)
				}
			}
		})
	}
}

func readJSON(t *testing.T, s Settings) string {
	t.Helper()
	r, err := newClient(t, s).Read(context.Background())
	if err != nil {
		t.Fatalf("Read %s: %v", s, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckRecordings(t *testing.T) {
	addr := startSim(t)
	for _, tc := range []struct {
		name, serial, state string
		reasons             []string
		version             string
	}{
		{"hp_envy6000", "TH05H3D1F8", StateReady, []string{}, "2c"},
		{"hp_envy6000", "TH05H3D1F8", StateReady, []string{}, "1"},
		{"brother_mfc7820n", "", StateSleeping, []string{ReasonSleeping}, "2c"},
		{"brother_mfc7820n", "", StateSleeping, []string{ReasonSleeping}, "1"},
		{"sharp_mx3570n", "6509415X00", StateReady, []string{ReasonLowToner}, "2c"},
		{"ricoh_mpc3002", "W492KB03439", StateReady, []string{ReasonWarning}, "2c"},
	} {
		t.Run(tc.name+"/v"+tc.version, func(t *testing.T) {
			s := simSettings(addr, tc.name)
			s.Version = tc.version
			c := newClient(t, s)
			var ops []string
			c.trace = func(op string, oids []string) { ops = append(ops, op) }
			q, err := c.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if q.Serial != tc.serial || q.Status.State != tc.state || !slices.Equal(q.Status.Codes(), tc.reasons) {
				t.Errorf("Check = %q %s %v, want %q %s %v", q.Serial, q.Status.State, q.Status.Codes(), tc.serial, tc.state, tc.reasons)
			}
			// SNMPv1 asks again without what the agent lacks; v2c asks once.
			if tc.version == "2c" && !slices.Equal(ops, []string{"get"}) {
				t.Errorf("Check sent %v, want one get", ops)
			}
		})
	}
}

// The UTAX P-4532DN leaves prtGeneralSerialNumber empty and keeps its
// serial in Kyocera's kcprtSerialNumber: once a full read has matched the
// profile, the fast check asks that object too, in the same one GET, so a
// replaced printer of this kind is recognised before a release.
func TestCheckAsksVendorSerial(t *testing.T) {
	addr := startSim(t)
	c := newClient(t, simSettings(addr, "utax_p4532dn"))
	q, err := c.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if q.Serial != "" {
		t.Errorf("Check before any Read: serial %q, want none (the standard object is empty)", q.Serial)
	}
	if _, err := c.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ops []string
	c.trace = func(op string, oids []string) { ops = append(ops, op) }
	if q, err = c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Serial != "R9L0309954" {
		t.Errorf("Check after a Read: serial %q, want R9L0309954 (utax_p4532dn.snmprec, 1.3.6.1.4.1.1347.43.5.1.1.28.1)", q.Serial)
	}
	if !slices.Equal(ops, []string{"get"}) {
		t.Errorf("Check sent %v, want one get", ops)
	}
}

func TestUnknownCommunityIsUnreachable(t *testing.T) {
	addr := startSim(t)
	s := simSettings(addr, "no_such_printer")
	s.Timeout = 200 * time.Millisecond
	s.Retries = 1
	s.Deadline = 2 * time.Second
	_, err := newClient(t, s).Read(context.Background())
	if !isNoAnswer(err) {
		t.Fatalf("Read with an unknown community: %v, want ErrNoAnswer", err)
	}
}
